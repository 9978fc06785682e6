package entra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The provisioning logs are the one large input ctsync reads: a harvest
// decodes millions of records. encoding/json reads a page four times over
// (validate the page, split it into records, validate each record, decode
// it); logScan reads it once, validating as strictly as encoding/json and
// decoding the same fields with the same rules (keys matched exactly or
// case-insensitively, null leaves a field as it is, the last duplicate key
// wins, a value of the wrong type is an error). A differential fuzz target
// holds it to encoding/json's answers.

// errSyntax is a page that is not JSON.
var errSyntax = errors.New("invalid JSON")

type logScan struct {
	data  []byte
	i     int
	depth int
}

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

func (s *logScan) fail(what string) error {
	return fmt.Errorf("%w at offset %d: %s", errSyntax, s.i, what)
}

func (s *logScan) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *logScan) peek() byte {
	s.ws()
	if s.i >= len(s.data) {
		return 0
	}
	return s.data[s.i]
}

// value skips one value, validating it, and returns its bytes.
func (s *logScan) value() ([]byte, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.data) {
		return nil, s.fail("unexpected end")
	}
	var err error
	switch c := s.data[s.i]; {
	case c == '{':
		err = s.object(func([]byte) error { _, err := s.value(); return err })
	case c == '[':
		err = s.array(func() error { _, err := s.value(); return err })
	case c == '"':
		_, err = s.stringBytes()
	case c == '-' || (c >= '0' && c <= '9'):
		err = s.number()
	case c == 't':
		err = s.literal("true")
	case c == 'f':
		err = s.literal("false")
	case c == 'n':
		err = s.literal("null")
	default:
		err = s.fail(fmt.Sprintf("unexpected %q", c))
	}
	return s.data[start:s.i], err
}

func (s *logScan) literal(word string) error {
	if !bytes.HasPrefix(s.data[s.i:], []byte(word)) {
		return s.fail("bad literal")
	}
	s.i += len(word)
	return nil
}

func (s *logScan) number() error {
	d := s.data
	if s.i < len(d) && d[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(d) && d[s.i] == '0':
		s.i++
	case s.i < len(d) && d[s.i] >= '1' && d[s.i] <= '9':
		for s.i < len(d) && d[s.i] >= '0' && d[s.i] <= '9' {
			s.i++
		}
	default:
		return s.fail("bad number")
	}
	if s.i < len(d) && d[s.i] == '.' {
		s.i++
		if s.i >= len(d) || d[s.i] < '0' || d[s.i] > '9' {
			return s.fail("bad fraction")
		}
		for s.i < len(d) && d[s.i] >= '0' && d[s.i] <= '9' {
			s.i++
		}
	}
	if s.i < len(d) && (d[s.i] == 'e' || d[s.i] == 'E') {
		s.i++
		if s.i < len(d) && (d[s.i] == '+' || d[s.i] == '-') {
			s.i++
		}
		if s.i >= len(d) || d[s.i] < '0' || d[s.i] > '9' {
			return s.fail("bad exponent")
		}
		for s.i < len(d) && d[s.i] >= '0' && d[s.i] <= '9' {
			s.i++
		}
	}
	return nil
}

// stringBytes skips a string, validating it, and returns it with its quotes.
func (s *logScan) stringBytes() ([]byte, error) {
	d, start := s.data, s.i
	s.i++ // the opening quote
	for s.i < len(d) {
		switch c := d[s.i]; {
		case c == '"':
			s.i++
			return d[start:s.i], nil
		case c == '\\':
			s.i++
			if s.i >= len(d) {
				return nil, s.fail("unterminated escape")
			}
			switch d[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+4 >= len(d) {
					return nil, s.fail("short \\u escape")
				}
				for _, h := range d[s.i+1 : s.i+5] {
					if !isHex(h) {
						return nil, s.fail("bad \\u escape")
					}
				}
				s.i += 5
			default:
				return nil, s.fail("bad escape")
			}
		case c < 0x20:
			return nil, s.fail("control character in string")
		default:
			s.i++
		}
	}
	return nil, s.fail("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// object walks an object, calling field with each key (quotes included)
// with the scanner at the start of its value; field must consume it.
func (s *logScan) object(field func(key []byte) error) error {
	if s.depth++; s.depth > maxDepth {
		return s.fail("nested too deep")
	}
	defer func() { s.depth-- }()
	s.i++ // {
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("expected a key")
		}
		key, err := s.stringBytes()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.fail("expected ':'")
		}
		s.i++
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.fail("expected ',' or '}'")
		}
	}
}

// array walks an array, calling elem with the scanner at each element.
func (s *logScan) array(elem func() error) error {
	if s.depth++; s.depth > maxDepth {
		return s.fail("nested too deep")
	}
	defer func() { s.depth-- }()
	s.i++ // [
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.fail("expected ',' or ']'")
		}
	}
}

// keyIs matches a key (with quotes) as encoding/json does: exactly, else
// case-insensitively. Keys with escapes are unquoted first.
func keyIs(key []byte, name string) bool {
	k := key[1 : len(key)-1]
	if bytes.IndexByte(k, '\\') >= 0 || !utf8.Valid(k) {
		var unq string
		if json.Unmarshal(key, &unq) != nil {
			return false
		}
		k = []byte(unq)
	}
	if string(k) == name {
		return true
	}
	if isPlainASCII(k) {
		return len(k) == len(name) && asciiEqualFold(k, name)
	}
	return strings.EqualFold(string(k), name) // Unicode folding (the Kelvin sign is a k)
}

func asciiEqualFold(k []byte, name string) bool {
	for i := range k {
		a, b := k[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// typeError is what encoding/json answers for a value of the wrong type.
type typeError struct{ field, want string }

func (e *typeError) Error() string {
	return fmt.Sprintf("provisioning record: field %s: want %s", e.field, e.want)
}

// str decodes a string field into into: null leaves it as it is.
func (s *logScan) str(into *string, field string) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '"':
	default:
		if _, err := s.value(); err != nil {
			return err
		}
		return &typeError{field, "a string"}
	}
	raw, err := s.stringBytes()
	if err != nil {
		return err
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && isPlainASCII(inner) {
		*into = string(inner)
		return nil
	}
	// Escapes and non-ASCII: encoding/json's own unquoting (it replaces
	// invalid UTF-8 with U+FFFD), for the same result.
	return json.Unmarshal(raw, into)
}

func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// obj decodes an object field with fields: null leaves it as it is.
func (s *logScan) obj(field string, fields func(key []byte) error) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '{':
		return s.object(fields)
	}
	if _, err := s.value(); err != nil {
		return err
	}
	return &typeError{field, "an object"}
}

// decodeLogPageScan reads a page in one pass.
func decodeLogPageScan(body []byte) (LogPage, error) {
	s := &logScan{data: body}
	var page LogPage
	var recErrs []error // per record: what makes it unusable (a later "value" replaces them)
	var typeErr error
	switch s.peek() {
	case 'n':
		if err := s.literal("null"); err != nil {
			return LogPage{}, err
		}
	case '{':
		err := s.object(func(key []byte) error {
			switch {
			case keyIs(key, "value"):
				switch s.peek() {
				case 'n':
					page.Records, recErrs = nil, nil
					return s.literal("null")
				case '[':
				default:
					if _, err := s.value(); err != nil {
						return err
					}
					typeErr = cmpErr(typeErr, &typeError{"value", "an array"})
					return nil
				}
				page.Records, recErrs = page.Records[:0], recErrs[:0]
				return s.array(func() error {
					rec, err := s.record()
					if errors.Is(err, errSyntax) {
						return err
					}
					if err == nil {
						err = rec.check()
					}
					page.Records, recErrs = append(page.Records, rec), append(recErrs, err)
					return nil
				})
			case keyIs(key, "@odata.nextLink"):
				err := s.str(&page.NextLink, "@odata.nextLink")
				var te *typeError
				if errors.As(err, &te) {
					typeErr = cmpErr(typeErr, err)
					return nil
				}
				return err
			}
			_, err := s.value()
			return err
		})
		if err != nil {
			return LogPage{}, err
		}
	default:
		if _, err := s.value(); err != nil {
			return LogPage{}, err
		}
		typeErr = &typeError{"page", "an object"}
	}
	if s.ws(); s.i != len(s.data) {
		return LogPage{}, s.fail("data after the page")
	}
	if typeErr != nil {
		return LogPage{}, typeErr
	}
	for _, err := range recErrs {
		if err != nil {
			return LogPage{}, err
		}
	}
	if page.Records == nil {
		page.Records = []LogRecord{}
	}
	return page, nil
}

func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// record decodes one provisioningObjectSummary at the scanner. A value of
// the wrong type is reported once the record has been read (the page must
// still be valid JSON), like encoding/json.
func (s *logScan) record() (LogRecord, error) {
	s.ws()
	start := s.i
	var rec LogRecord
	var typeErr error
	keep := func(err error) error {
		var te *typeError
		if errors.As(err, &te) {
			typeErr = cmpErr(typeErr, err)
			return nil
		}
		return err
	}
	identity := func(id, name *string, field string) func([]byte) error {
		return func(key []byte) error {
			switch {
			case keyIs(key, "id"):
				return keep(s.str(id, field+".id"))
			case keyIs(key, "displayName"):
				return keep(s.str(name, field+".displayName"))
			}
			_, err := s.value()
			return err
		}
	}
	var timeErr error
	switch s.peek() {
	case 'n':
		if err := s.literal("null"); err != nil {
			return rec, err
		}
	case '{':
		err := s.object(func(key []byte) error {
			switch {
			case keyIs(key, "id"):
				return keep(s.str(&rec.ID, "id"))
			case keyIs(key, "activityDateTime"):
				v, err := s.value()
				if err != nil || bytes.Equal(v, []byte("null")) {
					return err // null leaves it as it is
				}
				var t time.Time
				if err := t.UnmarshalJSON(v); err != nil {
					timeErr = cmpErr(timeErr, fmt.Errorf("provisioning record: activityDateTime: %w", err))
					return nil
				}
				rec.ActivityDateTime = t.UTC()
				return nil
			case keyIs(key, "jobId"):
				return keep(s.str(&rec.JobID, "jobId"))
			case keyIs(key, "provisioningAction"):
				return keep(s.str(&rec.Action, "provisioningAction"))
			case keyIs(key, "servicePrincipal"):
				return keep(s.obj("servicePrincipal", func(key []byte) error {
					if keyIs(key, "id") {
						return keep(s.str(&rec.ServicePrincipalID, "servicePrincipal.id"))
					}
					_, err := s.value()
					return err
				}))
			case keyIs(key, "sourceIdentity"):
				return keep(s.obj("sourceIdentity", identity(&rec.SourceID, &rec.SourceName, "sourceIdentity")))
			case keyIs(key, "targetIdentity"):
				return keep(s.obj("targetIdentity", identity(&rec.TargetID, &rec.TargetName, "targetIdentity")))
			case keyIs(key, "provisioningStatusInfo"):
				return keep(s.obj("provisioningStatusInfo", func(key []byte) error {
					switch {
					case keyIs(key, "status"):
						return keep(s.str(&rec.Status, "provisioningStatusInfo.status"))
					case keyIs(key, "errorInformation"):
						if s.peek() == 'n' {
							// A null pointer drops what an earlier errorInformation said.
							rec.ErrorCode, rec.Reason, rec.RecommendedAction = "", "", ""
							return s.literal("null")
						}
						return keep(s.obj("errorInformation", func(key []byte) error {
							switch {
							case keyIs(key, "errorCode"):
								return keep(s.str(&rec.ErrorCode, "errorInformation.errorCode"))
							case keyIs(key, "reason"):
								return keep(s.str(&rec.Reason, "errorInformation.reason"))
							case keyIs(key, "recommendedAction"):
								return keep(s.str(&rec.RecommendedAction, "errorInformation.recommendedAction"))
							}
							_, err := s.value()
							return err
						}))
					}
					_, err := s.value()
					return err
				}))
			}
			_, err := s.value()
			return err
		})
		if err != nil {
			return rec, err
		}
	default:
		if _, err := s.value(); err != nil {
			return rec, err
		}
		return rec, &typeError{"record", "an object"}
	}
	if err := cmpErr(typeErr, timeErr); err != nil {
		return rec, err
	}
	// The record exactly as sent: a slice of the page, which the records
	// keep alive together.
	rec.Raw = json.RawMessage(s.data[start:s.i:s.i])
	return rec, nil
}

// check is what makes a record usable.
func (r LogRecord) check() error {
	if r.ID == "" || r.ActivityDateTime.IsZero() {
		return errors.New("provisioning record without id or activityDateTime")
	}
	return nil
}
