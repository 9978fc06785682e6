package graphsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A small OData $filter parser and evaluator: comparisons (eq ne gt ge lt
// le), and/or/not, parentheses, contains/startswith/endswith, tolower/toupper,
// string, number, boolean, null and unquoted DateTimeOffset literals. Each
// resource says which property accepts which operator; anything else is
// rejected the way Graph rejects an unsupported filter.

type filterExpr interface {
	eval(get func(prop string) any) any
}

type (
	binaryExpr struct {
		op          string
		left, right filterExpr
	}
	notExpr  struct{ inner filterExpr }
	callExpr struct {
		fn   string
		args []filterExpr
	}
	propExpr    struct{ path string }
	literalExpr struct{ v any }
)

// filterRules lists, per property path, the operators and functions it
// supports ("eq", "gt", "contains", …).
type filterRules map[string][]string

type filterParser struct {
	toks  []token
	pos   int
	rules filterRules
}

type token struct {
	kind string // ident, string, number, datetime, punct
	text string
}

func parseFilter(s string, rules filterRules) (filterExpr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks, rules: rules}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("syntax error at position %d in '%s'", p.pos, s)
	}
	return e, nil
}

func tokenize(s string) ([]token, error) {
	var toks []token
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(' || r == ')' || r == ',':
			toks = append(toks, token{"punct", string(r)})
			i++
		case r == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(rs) {
					return nil, fmt.Errorf("unterminated string literal")
				}
				if rs[i] == '\'' {
					if i+1 < len(rs) && rs[i+1] == '\'' {
						b.WriteRune('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			toks = append(toks, token{"string", b.String()})
		default:
			j := i
			for j < len(rs) && !unicode.IsSpace(rs[j]) && !strings.ContainsRune("(),'", rs[j]) {
				j++
			}
			word := string(rs[i:j])
			i = j
			switch {
			case len(word) >= 10 && word[0] >= '0' && word[0] <= '9' && strings.Contains(word, "-"):
				toks = append(toks, token{"datetime", word})
			case word[0] >= '0' && word[0] <= '9' || word[0] == '-':
				toks = append(toks, token{"number", word})
			default:
				toks = append(toks, token{"ident", word})
			}
		}
	}
	return toks, nil
}

func (p *filterParser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *filterParser) keyword(word string) bool {
	t, ok := p.peek()
	if ok && t.kind == "ident" && t.text == word {
		p.pos++
		return true
	}
	return false
}

func (p *filterParser) punct(s string) bool {
	t, ok := p.peek()
	if ok && t.kind == "punct" && t.text == s {
		p.pos++
		return true
	}
	return false
}

func (p *filterParser) or() (filterExpr, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = binaryExpr{"or", left, right}
	}
	return left, nil
}

func (p *filterParser) and() (filterExpr, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		left = binaryExpr{"and", left, right}
	}
	return left, nil
}

func (p *filterParser) unary() (filterExpr, error) {
	if p.keyword("not") {
		inner, err := p.unary()
		return notExpr{inner}, err
	}
	if p.punct("(") {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.punct(")") {
			return nil, fmt.Errorf("missing ')'")
		}
		return e, nil
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	if c, ok := left.(callExpr); ok && (c.fn == "contains" || c.fn == "startswith" || c.fn == "endswith") {
		return c, nil
	}
	t, ok := p.peek()
	if !ok || t.kind != "ident" || !isComparison(t.text) {
		return nil, fmt.Errorf("expected a comparison operator after %s", describe(left))
	}
	p.pos++
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	if err := p.allowed(left, t.text); err != nil {
		return nil, err
	}
	return binaryExpr{t.text, left, right}, nil
}

func isComparison(op string) bool {
	switch op {
	case "eq", "ne", "gt", "ge", "lt", "le":
		return true
	}
	return false
}

// allowed checks that the property under operand supports op.
func (p *filterParser) allowed(operand filterExpr, op string) error {
	prop := propertyOf(operand)
	if prop == "" {
		return fmt.Errorf("the left side of '%s' must be a property", op)
	}
	ops, known := p.rules[prop]
	if !known {
		return fmt.Errorf("Could not find a property named '%s' on type or the property is not filterable", prop)
	}
	for _, o := range ops {
		if o == op {
			return nil
		}
	}
	return fmt.Errorf("Operator '%s' is not supported for property '%s'", op, prop)
}

func propertyOf(e filterExpr) string {
	switch v := e.(type) {
	case propExpr:
		return v.path
	case callExpr:
		if (v.fn == "tolower" || v.fn == "toupper") && len(v.args) == 1 {
			return propertyOf(v.args[0])
		}
	}
	return ""
}

func describe(e filterExpr) string {
	if p := propertyOf(e); p != "" {
		return p
	}
	return "operand"
}

func (p *filterParser) operand() (filterExpr, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("unexpected end of filter")
	}
	p.pos++
	switch t.kind {
	case "string":
		return literalExpr{t.text}, nil
	case "number":
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %s", t.text)
		}
		return literalExpr{f}, nil
	case "datetime":
		ts, err := parseDateTime(t.text)
		if err != nil {
			return nil, fmt.Errorf("'%s' is not a valid DateTimeOffset", t.text)
		}
		return literalExpr{ts}, nil
	case "ident":
		switch t.text {
		case "true":
			return literalExpr{true}, nil
		case "false":
			return literalExpr{false}, nil
		case "null":
			return literalExpr{nil}, nil
		}
		if p.punct("(") {
			fn := t.text
			var args []filterExpr
			for !p.punct(")") {
				if len(args) > 0 && !p.punct(",") {
					return nil, fmt.Errorf("expected ',' in %s()", fn)
				}
				a, err := p.operand()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
			}
			switch fn {
			case "tolower", "toupper":
				if len(args) != 1 {
					return nil, fmt.Errorf("%s takes one argument", fn)
				}
			case "contains", "startswith", "endswith":
				if len(args) != 2 {
					return nil, fmt.Errorf("%s takes two arguments", fn)
				}
				if err := p.allowed(args[0], fn); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("An unknown function with name '%s' was found", fn)
			}
			return callExpr{fn, args}, nil
		}
		return propExpr{t.text}, nil
	}
	return nil, fmt.Errorf("unexpected '%s'", t.text)
}

func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad datetime")
}

func (b binaryExpr) eval(get func(string) any) any {
	switch b.op {
	case "and":
		return truthy(b.left.eval(get)) && truthy(b.right.eval(get))
	case "or":
		return truthy(b.left.eval(get)) || truthy(b.right.eval(get))
	}
	l, r := b.left.eval(get), b.right.eval(get)
	cmp, ok := compare(l, r)
	switch b.op {
	case "eq":
		return ok && cmp == 0
	case "ne":
		return !ok || cmp != 0
	case "gt":
		return ok && cmp > 0
	case "ge":
		return ok && cmp >= 0
	case "lt":
		return ok && cmp < 0
	case "le":
		return ok && cmp <= 0
	}
	return false
}

func (n notExpr) eval(get func(string) any) any  { return !truthy(n.inner.eval(get)) }
func (p propExpr) eval(get func(string) any) any { return get(p.path) }
func (l literalExpr) eval(func(string) any) any  { return l.v }

func (c callExpr) eval(get func(string) any) any {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		args[i] = a.eval(get)
	}
	str := func(v any) string { s, _ := v.(string); return s }
	switch c.fn {
	case "tolower":
		return strings.ToLower(str(args[0]))
	case "toupper":
		return strings.ToUpper(str(args[0]))
	case "contains":
		return strings.Contains(str(args[0]), str(args[1]))
	case "startswith":
		return strings.HasPrefix(str(args[0]), str(args[1]))
	case "endswith":
		return strings.HasSuffix(str(args[0]), str(args[1]))
	}
	return nil
}

func truthy(v any) bool { b, _ := v.(bool); return b }

// compare orders two values of the same kind; strings compare exactly
// (Graph's log filters are case-sensitive).
func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return strings.Compare(x, y), ok
	case float64:
		y, ok := b.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case time.Time:
		y, ok := b.(time.Time)
		if !ok {
			return 0, false
		}
		return x.Compare(y), true
	case bool:
		y, ok := b.(bool)
		if !ok || x == y {
			return 0, ok
		}
		return 1, true
	case nil:
		if b == nil {
			return 0, true
		}
	}
	return 0, false
}
