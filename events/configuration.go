package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Configuration is a pair's desired synchronization configuration, from a
// desired-state file (`ctsync apply`). An onboarding without one (`ctsync
// onboard`, the API's plain fields) adds its assignments and leaves the
// scope and the mappings as they are.
type Configuration struct {
	// ScopingFilters replace ctsync's filter groups in the User→User
	// mapping's scope; nil leaves the scope alone, an empty list removes
	// ctsync's filters (the built-in restriction stays).
	ScopingFilters *[]ScopingFilter `json:"scopingFilters,omitempty"`
	// AttributeMappings are merged into the User→User mapping by target
	// attribute; mappings not named here are kept.
	AttributeMappings []AttributeMapping `json:"attributeMappings,omitempty"`
	// DeleteThreshold is how many deletions one cycle may make before Entra
	// quarantines the job and waits for a person (SyncNotificationSettings).
	DeleteThreshold int `json:"deleteThreshold"`
	// ExactAssignments makes the listed users and groups the whole truth:
	// assignments not listed are removed.
	ExactAssignments bool `json:"exactAssignments"`
	// ProvisionOnDemand provisions the first user at once (default true).
	ProvisionOnDemand *bool `json:"provisionOnDemand,omitempty"`
}

// ScopingFilter is one scoping filter: its clauses must all hold (AND);
// a user is in scope when any filter holds (OR).
type ScopingFilter struct {
	Name    string         `json:"name"`
	Clauses []FilterClause `json:"clauses"`
}

// FilterClause compares one source attribute.
type FilterClause struct {
	Attribute string   `json:"attribute"`
	Operator  string   `json:"operator"`
	Values    []string `json:"values,omitempty"`
}

// AttributeMapping sets one target attribute from a source attribute or a
// constant.
type AttributeMapping struct {
	Target   string  `json:"target"`
	Source   string  `json:"source,omitempty"`
	Constant *string `json:"constant,omitempty"`
	// Apply is "always" (flowType Always, the default) or "onCreate"
	// (flowType ObjectAddOnly).
	Apply string `json:"apply,omitempty"`
}

// DefaultDeleteThreshold is the portal's default: a cycle deleting 500
// users waits for a person.
const DefaultDeleteThreshold = 500

// Operators are the scoping operators Graph's filterOperators documents,
// with their arity (true: binary, takes values). The portal shows a few
// more whose operatorName strings Microsoft does not document; ctsync
// accepts only these, and ensure-schema checks the job's own list again
// before it writes.
var Operators = map[string]bool{
	"EQUALS": true, "NOT EQUALS": true, "REGEX MATCH": true, "NOT REGEX MATCH": true,
	"IS TRUE": false, "IS FALSE": false, "IS NULL": false, "IS NOT NULL": false,
}

// unfilterable are attributes Microsoft documents as unsupported in scoping
// filters (known issues: appRoleAssignments, userType, manager, dates,
// multi-valued attributes), with why.
var unfilterable = map[string]string{
	"appRoleAssignments":     "app role assignments cannot be a scoping filter (Microsoft: known issues)",
	"userType":               "userType cannot be a scoping filter; CTS synchronizes internal members only (Microsoft: known issues)",
	"manager":                "manager is a reference and cannot be a scoping filter (Microsoft: known issues)",
	"alternativeSecurityIds": "alternativeSecurityIds is the matching attribute and Microsoft's built-in filter; ctsync keeps that filter itself",
	"proxyAddresses":         "multi-valued attributes cannot be a scoping filter (Microsoft: scoping filters)",
	"otherMails":             "multi-valued attributes cannot be a scoping filter (Microsoft: scoping filters)",
	"businessPhones":         "multi-valued attributes cannot be a scoping filter (Microsoft: scoping filters)",
	"memberOf":               "group membership (IsMemberOf) cannot be a scoping filter; assign the group instead (Microsoft: scoping filters)",
	"employeeHireDate":       "date attributes cannot be a scoping filter (Microsoft: known issues)",
	"employeeLeaveDateTime":  "date attributes cannot be a scoping filter (Microsoft: known issues)",
	"createdDateTime":        "date attributes cannot be a scoping filter (Microsoft: known issues)",
	"accountExpires":         "date attributes cannot be a scoping filter (Microsoft: known issues)",
	"startDate":              "date attributes cannot be a scoping filter (Microsoft: known issues)",
	"endDate":                "date attributes cannot be a scoping filter (Microsoft: known issues)",
	"StatusHireDate":         "date attributes cannot be a scoping filter (Microsoft: known issues)",
}

// unmappableSources are not available as source attributes.
var unmappableSources = map[string]string{
	"userType":       "userType is not available as a source attribute (Microsoft: known issues); map a constant instead",
	"SamAccountName": "SamAccountName is not available as a source attribute (Microsoft: known issues)",
}

// unmappableTargets cannot be written by CTS.
var unmappableTargets = map[string]string{
	"alternativeSecurityIds": "alternativeSecurityIds is the matching attribute; Microsoft refuses any change to it (schemaInvalid)",
	"otherMails":             "otherMails is computed in the target and cannot be a mapping target (Microsoft: known issues)",
	"proxyAddresses":         "proxyAddresses can be a source but not a target (Microsoft: known issues)",
}

// MaxExpression is Microsoft's limit on an attribute-mapping expression.
const MaxExpression = 10000

var attributeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,127}$`)

// Validate checks a configuration, naming each problem by its path under
// prefix (e.g. "pairs[0]").
func (c *Configuration) Validate(prefix string) error {
	at := func(format string, args ...any) string { return prefix + fmt.Sprintf(format, args...) }
	if c.DeleteThreshold < 1 || c.DeleteThreshold > 1_000_000 {
		return invalid(at(".deleteThreshold"), "must be a whole number from 1 to 1000000 (a cycle deleting that many users waits for a person)")
	}
	if c.ScopingFilters != nil {
		names := map[string]bool{}
		for i, f := range *c.ScopingFilters {
			name, _ := json.Marshal(f.Name)
			if err := (field{kind: kindText, maxLen: 128}).check(at(".scopingFilters[%d].name", i), name); err != nil {
				return err
			}
			if names[f.Name] {
				return invalid(at(".scopingFilters[%d].name", i), "%q is used by another filter", f.Name)
			}
			names[f.Name] = true
			if len(f.Clauses) == 0 || len(f.Clauses) > 50 {
				return invalid(at(".scopingFilters[%d].clauses", i), "needs 1 to 50 clauses")
			}
			for j, cl := range f.Clauses {
				if err := cl.validate(at(".scopingFilters[%d].clauses[%d]", i, j)); err != nil {
					return err
				}
			}
		}
	}
	targets := map[string]bool{}
	for i, m := range c.AttributeMappings {
		p := at(".attributeMappings[%d]", i)
		if !attributeName.MatchString(m.Target) {
			return invalid(p+".target", "must be an attribute name (letters, digits, _), got %q", clip(m.Target))
		}
		if why, bad := unmappableTargets[m.Target]; bad {
			return invalid(p+".target", "%s", why)
		}
		if targets[strings.ToLower(m.Target)] {
			return invalid(p+".target", "%s is mapped twice", m.Target)
		}
		targets[strings.ToLower(m.Target)] = true
		switch {
		case m.Source != "" && m.Constant != nil:
			return invalid(p, "set source or constant, not both")
		case m.Source == "" && m.Constant == nil:
			return invalid(p, "needs a source attribute or a constant")
		case m.Source != "":
			if !attributeName.MatchString(m.Source) {
				return invalid(p+".source", "must be an attribute name (letters, digits, _), got %q", clip(m.Source))
			}
			if why, bad := unmappableSources[m.Source]; bad {
				return invalid(p+".source", "%s", why)
			}
		default:
			if len(*m.Constant)+2 > MaxExpression {
				return invalid(p+".constant", "is %d characters; an expression may have at most %d", len(*m.Constant), MaxExpression-2)
			}
			if !utf8.ValidString(*m.Constant) || strings.ContainsAny(*m.Constant, "\x00\"") {
				return invalid(p+".constant", "must be text without double quotes or NUL")
			}
		}
		switch m.Apply {
		case "", "always", "onCreate":
		default:
			return invalid(p+".apply", "must be always or onCreate, got %q", clip(m.Apply))
		}
	}
	return nil
}

func (cl FilterClause) validate(p string) error {
	if !attributeName.MatchString(cl.Attribute) {
		return invalid(p+".attribute", "must be an attribute name (letters, digits, _), got %q", clip(cl.Attribute))
	}
	if why, bad := unfilterable[cl.Attribute]; bad {
		return invalid(p+".attribute", "%s", why)
	}
	if strings.HasSuffix(strings.ToLower(cl.Attribute), "date") || strings.HasSuffix(strings.ToLower(cl.Attribute), "datetime") {
		return invalid(p+".attribute", "date attributes cannot be a scoping filter (Microsoft: known issues)")
	}
	binary, ok := Operators[cl.Operator]
	if !ok {
		return invalid(p+".operator", "%q is not a scoping operator; use one of EQUALS, NOT EQUALS, IS TRUE, IS FALSE, IS NULL, IS NOT NULL, REGEX MATCH, NOT REGEX MATCH (Graph's operatorName, exact case)", clip(cl.Operator))
	}
	switch {
	case binary && len(cl.Values) == 0:
		return invalid(p+".values", "%s compares with a value: give at least one", cl.Operator)
	case !binary && len(cl.Values) > 0:
		return invalid(p+".values", "%s takes no value", cl.Operator)
	case len(cl.Values) > 50:
		return invalid(p+".values", "has %d values, at most 50 allowed", len(cl.Values))
	}
	for k, v := range cl.Values {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) || len(v) > 1024 {
			return invalid(fmt.Sprintf("%s.values[%d]", p, k), "must be text of at most 1024 bytes")
		}
		if strings.Contains(cl.Operator, "REGEX") {
			if _, err := regexp.Compile(v); err != nil {
				return invalid(fmt.Sprintf("%s.values[%d]", p, k), "is not a regular expression: %v", err)
			}
		}
	}
	return nil
}

// checkConfiguration is the event field rule for "configuration".
func checkConfiguration(path string, raw json.RawMessage) error {
	var c Configuration
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return invalid(path, "must be a configuration object: %v", err)
	}
	return c.Validate(path)
}

// ScopingFiltersSchema, AttributeMappingsSchema and DeleteThresholdSchema
// are the JSON Schemas of a configuration's parts: the event schemas and
// the desired-state file's schema are built from them.
func ScopingFiltersSchema() map[string]any {
	var ops []string
	for op := range Operators {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return map[string]any{
		"type":        "array",
		"description": "OR across filters, AND across one filter's clauses. Replaces ctsync's filter groups in the User→User mapping's scope; Microsoft's built-in restriction is kept in each.",
		"items": map[string]any{
			"type": "object", "additionalProperties": false, "required": []string{"name", "clauses"},
			"properties": map[string]any{
				"name": map[string]any{"type": "string", "minLength": 1, "maxLength": 128},
				"clauses": map[string]any{"type": "array", "minItems": 1, "maxItems": 50, "items": map[string]any{
					"type": "object", "additionalProperties": false, "required": []string{"attribute", "operator"},
					"properties": map[string]any{
						"attribute": map[string]any{"type": "string", "pattern": attributeName.String(), "description": "A source user attribute (not userType, manager, appRoleAssignments, dates or multi-valued attributes)."},
						"operator":  map[string]any{"type": "string", "enum": ops, "description": "Graph's operatorName. EQUALS, NOT EQUALS and REGEX MATCH are case-sensitive; a null value never matches."},
						"values":    map[string]any{"type": "array", "maxItems": 50, "items": map[string]any{"type": "string", "maxLength": 1024}},
					},
				}},
			},
		},
	}
}

func AttributeMappingsSchema() map[string]any {
	return map[string]any{
		"type":        "array",
		"description": "Merged into the USER_INBOUND_USER rule's User→User mapping by target attribute; other mappings are kept. The matching attribute cannot be changed.",
		"items": map[string]any{
			"type": "object", "additionalProperties": false, "required": []string{"target"},
			"properties": map[string]any{
				"target":   map[string]any{"type": "string", "pattern": attributeName.String()},
				"source":   map[string]any{"type": "string", "pattern": attributeName.String(), "description": "An attribute of the source user."},
				"constant": map[string]any{"type": "string", "maxLength": MaxExpression - 2},
				"apply":    map[string]any{"type": "string", "enum": []string{"always", "onCreate"}, "default": "always", "description": "always: flowType Always; onCreate: flowType ObjectAddOnly."},
			},
			"oneOf": []any{map[string]any{"required": []string{"source"}}, map[string]any{"required": []string{"constant"}}},
		},
	}
}

func DeleteThresholdSchema() map[string]any {
	return map[string]any{"type": "integer", "minimum": 1, "maximum": 1000000, "default": DefaultDeleteThreshold,
		"description": "A cycle that would delete this many users stops (quarantine TooManyDeletes) until a person approves (ctsync approve-deletes)."}
}

func configurationSchema() map[string]any {
	return map[string]any{
		"type": "object", "additionalProperties": false, "required": []string{"deleteThreshold", "exactAssignments"},
		"properties": map[string]any{
			"scopingFilters":    ScopingFiltersSchema(),
			"attributeMappings": AttributeMappingsSchema(),
			"deleteThreshold":   DeleteThresholdSchema(),
			"exactAssignments":  map[string]any{"type": "boolean", "description": "The listed users and groups are the whole truth: other assignments are removed."},
			"provisionOnDemand": map[string]any{"type": "boolean", "default": true},
		},
	}
}
