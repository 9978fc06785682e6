package entra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/events"
)

// Schema is a synchronization job's schema exactly as Graph returned it.
// Graph replaces the whole schema on PUT, so ctsync edits this document in
// place and sends it all back: every directory, rule, unknown field and
// metadata entry round-trips untouched.
type Schema struct {
	doc map[string]any
}

// ParseSchema reads a schema document; numbers keep their text.
func ParseSchema(raw []byte) (*Schema, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, fmt.Errorf("the job's schema is not a JSON object: %v", err)
	}
	delete(doc, "@odata.context") // a property of the answer, not of the schema
	return &Schema{doc: doc}, nil
}

// JSON is the document to PUT.
func (s *Schema) JSON() ([]byte, error) { return json.Marshal(s.doc) }

// Clone is a deep copy, for planning a change without making it.
func (s *Schema) Clone() *Schema {
	raw, _ := s.JSON()
	c, _ := ParseSchema(raw)
	return c
}

// BuiltInFilterName is the scoping group Microsoft puts in a new CTS job.
const BuiltInFilterName = "Filter external users"

// builtInAttribute is what the built-in group filters on; users may not
// filter on it, so clauses over it are the built-in restriction wherever
// ctsync finds them.
const builtInAttribute = "alternativeSecurityIds"

// userMapping is the User→User object mapping of the USER_INBOUND_USER
// rule; rules and mappings are found by name, never by position.
func (s *Schema) userMapping() (map[string]any, error) {
	rules, _ := s.doc["synchronizationRules"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		if rule == nil || rule["name"] != UserInboundRule {
			continue
		}
		maps, _ := rule["objectMappings"].([]any)
		for _, m := range maps {
			om, _ := m.(map[string]any)
			if om != nil && om["sourceObjectName"] == "User" && om["targetObjectName"] == "User" {
				return om, nil
			}
		}
	}
	return nil, fmt.Errorf("the job's schema has no %s rule with a User→User object mapping", UserInboundRule)
}

// Clause is a scoping clause as the schema holds it.
type Clause struct {
	Attribute string
	Operator  string
	Values    []string
}

// Scope is the User→User mapping's scope as ctsync sees it: its own filter
// groups (built-in clauses taken out) and the built-in restriction.
type Scope struct {
	Filters []events.ScopingFilter
	BuiltIn []Clause // clauses over alternativeSecurityIds found in scope.groups
}

// CurrentScope reads the scope's groups.
func (s *Schema) CurrentScope() (Scope, error) {
	om, err := s.userMapping()
	if err != nil {
		return Scope{}, err
	}
	var out Scope
	scope, _ := om["scope"].(map[string]any)
	groups, _ := scope["groups"].([]any)
	for _, g := range groups {
		group, _ := g.(map[string]any)
		name, _ := group["name"].(string)
		f := events.ScopingFilter{Name: name}
		clauses, _ := group["clauses"].([]any)
		for _, c := range clauses {
			cl := clauseFrom(c)
			if cl.Attribute == builtInAttribute {
				if !slices.ContainsFunc(out.BuiltIn, func(b Clause) bool { return sameClause(b, cl) }) {
					out.BuiltIn = append(out.BuiltIn, cl)
				}
				continue
			}
			f.Clauses = append(f.Clauses, events.FilterClause{Attribute: cl.Attribute, Operator: cl.Operator, Values: cl.Values})
		}
		if len(f.Clauses) > 0 {
			out.Filters = append(out.Filters, f)
		}
	}
	return out, nil
}

func clauseFrom(c any) Clause {
	m, _ := c.(map[string]any)
	cl := Clause{}
	cl.Attribute, _ = m["sourceOperandName"].(string)
	cl.Operator, _ = m["operatorName"].(string)
	operand, _ := m["targetOperand"].(map[string]any)
	values, _ := operand["values"].([]any)
	for _, v := range values {
		if s, ok := v.(string); ok {
			cl.Values = append(cl.Values, s)
		}
	}
	return cl
}

func sameClause(a, b Clause) bool {
	return a.Attribute == b.Attribute && a.Operator == b.Operator && slices.Equal(a.Values, b.Values)
}

func clauseJSON(attribute, operator string, values []string) map[string]any {
	vs := make([]any, 0, len(values))
	for _, v := range values {
		vs = append(vs, v)
	}
	return map[string]any{"operatorName": operator, "sourceOperandName": attribute, "targetOperand": map[string]any{"values": vs}}
}

// Change is one setting a configuration changes in a schema.
type Change struct {
	Setting string // e.g. "scopingFilters", "attributeMapping employeeId"
	From    string
	To      string
}

// Apply edits the schema to carry the configuration's scoping filters and
// attribute mappings, and returns what it changed (nothing: no PUT is
// needed). The matching mapping is never touched.
func (s *Schema) Apply(c events.Configuration) ([]Change, error) {
	om, err := s.userMapping()
	if err != nil {
		return nil, err
	}
	var changes []Change
	if c.ScopingFilters != nil {
		current, err := s.CurrentScope()
		if err != nil {
			return nil, err
		}
		want := *c.ScopingFilters
		var groups []any
		for _, f := range want {
			var clauses []any
			for _, cl := range f.Clauses {
				clauses = append(clauses, clauseJSON(cl.Attribute, cl.Operator, cl.Values))
			}
			// Groups are OR-ed: each of ctsync's groups carries the built-in
			// restriction, so ctsync's filters never widen the scope.
			for _, b := range current.BuiltIn {
				clauses = append(clauses, clauseJSON(b.Attribute, b.Operator, b.Values))
			}
			groups = append(groups, map[string]any{"name": f.Name, "clauses": clauses})
		}
		if len(want) == 0 && len(current.BuiltIn) > 0 {
			var clauses []any
			for _, b := range current.BuiltIn {
				clauses = append(clauses, clauseJSON(b.Attribute, b.Operator, b.Values))
			}
			groups = []any{map[string]any{"name": BuiltInFilterName, "clauses": clauses}}
		}
		if groups == nil {
			groups = []any{}
		}
		scope, _ := om["scope"].(map[string]any)
		old, _ := scope["groups"].([]any)
		if !sameJSON(old, groups) {
			if scope == nil {
				scope = map[string]any{"categoryFilterGroups": []any{}, "inputFilterGroups": []any{}}
				om["scope"] = scope
			}
			scope["groups"] = groups
			changes = append(changes, Change{Setting: "scopingFilters", From: DescribeFilters(current.Filters), To: DescribeFilters(want)})
		}
	}
	mappings, _ := om["attributeMappings"].([]any)
	for _, m := range c.AttributeMappings {
		source := map[string]any{"type": "Attribute", "name": m.Source, "expression": "[" + m.Source + "]", "parameters": []any{}}
		if m.Constant != nil {
			source = map[string]any{"type": "Constant", "name": *m.Constant, "expression": `"` + *m.Constant + `"`, "parameters": []any{}}
		}
		flowType := "Always"
		if m.Apply == "onCreate" {
			flowType = "ObjectAddOnly"
		}
		var existing map[string]any
		for _, e := range mappings {
			em, _ := e.(map[string]any)
			if t, _ := em["targetAttributeName"].(string); strings.EqualFold(t, m.Target) {
				existing = em
				break
			}
		}
		setting := "attributeMapping " + m.Target
		if existing == nil {
			mappings = append(mappings, map[string]any{"defaultValue": "", "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged",
				"flowType": flowType, "matchingPriority": json.Number("0"), "targetAttributeName": m.Target, "source": source})
			changes = append(changes, Change{Setting: setting, From: "(not mapped)", To: describeMapping(source, flowType)})
			continue
		}
		if p, _ := existing["matchingPriority"].(json.Number); p != "" && p != "0" {
			return nil, fmt.Errorf("attributeMappings: %s is the matching attribute; Microsoft refuses any change to it (schemaInvalid)", m.Target)
		}
		oldSource, _ := existing["source"].(map[string]any)
		oldFlow, _ := existing["flowType"].(string)
		if oldFlow == "" {
			oldFlow = "Always"
		}
		if sameSource(oldSource, source) && oldFlow == flowType {
			continue
		}
		from := describeMapping(oldSource, oldFlow)
		if oldSource == nil {
			oldSource = map[string]any{}
			existing["source"] = oldSource
		}
		for _, k := range []string{"type", "name", "expression", "parameters"} {
			oldSource[k] = source[k]
		}
		existing["flowType"] = flowType
		changes = append(changes, Change{Setting: setting, From: from, To: describeMapping(source, flowType)})
	}
	om["attributeMappings"] = mappings
	return changes, nil
}

func sameSource(a, b map[string]any) bool {
	if a == nil {
		return false
	}
	for _, k := range []string{"type", "name", "expression"} {
		if fmt.Sprint(a[k]) != fmt.Sprint(b[k]) {
			return false
		}
	}
	return true
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func describeMapping(source map[string]any, flowType string) string {
	if source == nil {
		return "(no source)"
	}
	when := "always"
	if flowType == "ObjectAddOnly" {
		when = "on create"
	}
	switch source["type"] {
	case "Constant":
		return fmt.Sprintf("constant %q (%s)", source["name"], when)
	case "Function":
		return fmt.Sprintf("%v (%s)", source["expression"], when)
	}
	return fmt.Sprintf("%v (%s)", source["name"], when)
}

// DescribeFilters is a scope for people: OR across filters, AND within.
func DescribeFilters(fs []events.ScopingFilter) string {
	if len(fs) == 0 {
		return "(no scoping filter: every assigned user)"
	}
	var parts []string
	for _, f := range fs {
		var cs []string
		for _, c := range f.Clauses {
			cs = append(cs, strings.TrimSpace(c.Attribute+" "+c.Operator+" "+quoteAll(c.Values)))
		}
		parts = append(parts, f.Name+": "+strings.Join(cs, " AND "))
	}
	return strings.Join(parts, " OR ")
}

func quoteAll(vs []string) string {
	var q []string
	for _, v := range vs {
		q = append(q, fmt.Sprintf("%q", v))
	}
	return strings.Join(q, ", ")
}

// FilterOperator is one entry of a job's filterOperators.
type FilterOperator struct {
	Name  string `json:"name"`
	Arity string `json:"arity"`
}

// CheckOperators checks the configuration's clauses against the operators
// the job itself supports.
func CheckOperators(c events.Configuration, supported []FilterOperator) error {
	if c.ScopingFilters == nil {
		return nil
	}
	known := map[string]bool{}
	var names []string
	for _, op := range supported {
		known[op.Name] = true
		names = append(names, op.Name)
	}
	for i, f := range *c.ScopingFilters {
		for j, cl := range f.Clauses {
			if !known[cl.Operator] {
				return fmt.Errorf("scopingFilters[%d].clauses[%d].operator: this job does not support %q (its filterOperators: %s)", i, j, cl.Operator, strings.Join(names, ", "))
			}
		}
	}
	return nil
}
