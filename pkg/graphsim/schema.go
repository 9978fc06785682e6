package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// BuiltInFilterIn says where a new job's built-in "Filter external users"
// group sits. Microsoft does not document it (schema.md §1.3), so the
// emulator models both places.
const (
	BuiltInInGroups      = "groups"            // OR-ed with every other scoping group
	BuiltInInInputFilter = "inputFilterGroups" // evaluated at read time, apart
)

// filterOperators is Graph's documented filterOperators answer.
var filterOperators = []map[string]any{
	{"name": "EQUALS", "arity": "Binary", "multivaluedComparisonType": "All", "supportedAttributeTypes": []string{"String", "Integer", "Reference", "Binary", "Boolean", "DateTime"}},
	{"name": "NOT EQUALS", "arity": "Binary", "multivaluedComparisonType": "All", "supportedAttributeTypes": []string{"String", "Integer", "Reference", "Binary", "Boolean", "DateTime"}},
	{"name": "IS TRUE", "arity": "Unary", "multivaluedComparisonType": "All", "supportedAttributeTypes": []string{"Boolean"}},
	{"name": "IS FALSE", "arity": "Unary", "multivaluedComparisonType": "All", "supportedAttributeTypes": []string{"Boolean"}},
	{"name": "IS NULL", "arity": "Unary", "multivaluedComparisonType": "All", "supportedAttributeTypes": []string{"String", "Integer", "Reference", "Binary", "Boolean", "DateTime"}},
	{"name": "IS NOT NULL", "arity": "Unary", "multivaluedComparisonType": "All", "supportedAttributeTypes": []string{"String", "Integer", "Reference", "Binary", "Boolean", "DateTime"}},
	{"name": "REGEX MATCH", "arity": "Binary", "multivaluedComparisonType": "All", "supportedAttributeTypes": []string{"String"}},
	{"name": "NOT REGEX MATCH", "arity": "Binary", "multivaluedComparisonType": "All", "supportedAttributeTypes": []string{"String"}},
}

// defaultSchema is a new Azure2Azure job's schema: a user rule and a group
// rule, the matching attribute first, the built-in scoping group where
// builtInIn puts it.
func defaultSchema(j *job, builtInIn string) map[string]any {
	builtIn := map[string]any{"name": "Filter external users", "clauses": []any{map[string]any{
		"operatorName": "EQUALS", "sourceOperandName": "alternativeSecurityIds", "targetOperand": map[string]any{"values": []any{"None"}}}}}
	mapping := func(target, source string, priority int, flowType string) map[string]any {
		return map[string]any{"defaultValue": "", "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged", "flowType": flowType,
			"matchingPriority": priority, "targetAttributeName": target,
			"source": map[string]any{"expression": "[" + source + "]", "name": source, "type": "Attribute", "parameters": []any{}}}
	}
	constant := func(target, value, flowType string) map[string]any {
		return map[string]any{"defaultValue": "", "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged", "flowType": flowType,
			"matchingPriority": 0, "targetAttributeName": target,
			"source": map[string]any{"expression": `"` + value + `"`, "name": value, "type": "Constant", "parameters": []any{}}}
	}
	rule := func(id, name string, priority int, object string, mappings []any, withScope bool) map[string]any {
		var scope any
		if withScope {
			s := map[string]any{"categoryFilterGroups": []any{}, "groups": []any{}, "inputFilterGroups": []any{}}
			if builtInIn == BuiltInInInputFilter {
				s["inputFilterGroups"] = []any{builtIn}
			} else {
				s["groups"] = []any{builtIn}
			}
			scope = s
		}
		return map[string]any{
			"id": id, "name": name, "editable": true, "priority": priority,
			"sourceDirectoryName": "Azure Active Directory", "targetDirectoryName": "Azure Active Directory (target tenant)",
			"containerFilter": map[string]any{"includedContainers": []any{}}, "groupFilter": map[string]any{"includedGroups": []any{}},
			"metadata": []any{
				map[string]any{"key": "defaultSourceObjectMappings", "value": "[]"},
				map[string]any{"key": "supportsProvisionOnDemand", "value": "true"},
			},
			"objectMappings": []any{map[string]any{
				"enabled": true, "flowTypes": "Add, Update, Delete", "name": "Provision Azure Active Directory " + object + "s",
				"sourceObjectName": object, "targetObjectName": object, "scope": scope,
				"metadata":          []any{map[string]any{"key": "Disposition", "value": "Normal"}},
				"attributeMappings": mappings,
			}},
		}
	}
	users := []any{
		mapping("alternativeSecurityIds", "objectId", 1, "Always"),
		mapping("displayName", "displayName", 0, "Always"),
		mapping("accountEnabled", "accountEnabled", 0, "Always"),
		mapping("department", "department", 0, "Always"),
		constant("userType", "Member", "ObjectAddOnly"),
		constant("showInAddressList", "true", "Always"),
	}
	groups := []any{mapping("displayName", "displayName", 0, "Always")}
	return map[string]any{
		"id": j.id, "version": "v1.2",
		"synchronizationRules": []any{
			rule(j.groupRuleID, "GROUP_INBOUND_GROUP", 2, "Group", groups, false),
			rule(j.ruleID, "USER_INBOUND_USER", 1, "User", users, true),
		},
		"directories": []any{
			map[string]any{"id": "sourceDirectory", "name": "Azure Active Directory", "objects": []any{map[string]any{"name": "User", "attributes": []any{}}}},
			map[string]any{"id": "targetDirectory", "name": "Azure Active Directory (target tenant)", "objects": []any{map[string]any{"name": "User", "attributes": []any{}}}},
		},
	}
}

func cloneJSON(v any) any {
	raw, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

func (s *Server) getSchema(c *call) {
	sp, j, ok := c.lookupJobOfSP()
	if !ok {
		return
	}
	doc := cloneJSON(j.schema).(map[string]any)
	doc["@odata.context"] = c.context("servicePrincipals('" + sp.id + "')/synchronization/jobs('" + j.id + "')/schema/$entity")
	c.writeJSON(http.StatusOK, doc)
}

// patchSchema answers as the service does: the metadata declares PATCH, the
// synchronization fabric has no such route.
func (s *Server) patchSchema(c *call) {
	c.odataError(http.StatusNotFound, "UnknownError",
		fmt.Sprintf("No HTTP resource was found that matches the request URI 'https://syncfabric.windowsazure.com/api/servicePrincipals/%s/synchronization/jobs/%s/schema'.",
			c.r.PathValue("sp"), c.r.PathValue("job")))
}

func (s *Server) filterOperators(c *call) {
	if _, _, ok := c.lookupJobOfSP(); ok {
		c.writeJSON(http.StatusOK, map[string]any{"@odata.context": c.context("Collection(microsoft.graph.filterOperatorSchema)"), "value": filterOperators})
	}
}

// putSchema replaces the schema, with Graph's checks: the whole document,
// the matching attribute unchanged, known operators. A mapping or scope
// change restarts provisioning, as Microsoft documents.
func (s *Server) putSchema(c *call) {
	_, j, ok := c.lookupJobOfSP()
	if !ok {
		return
	}
	var doc map[string]any
	if !c.decode(&doc) {
		return
	}
	s.schemaPuts++
	delete(doc, "@odata.context")
	rules, _ := doc["synchronizationRules"].([]any)
	if len(rules) == 0 {
		c.badRequest("schemaInvalid", "The schema must contain its synchronization rules; PUT replaces the whole schema.")
		return
	}
	if before, after := matchingMappings(j.schema), matchingMappings(doc); before != after {
		c.badRequest("schemaInvalid", "The matching attribute of an object mapping cannot be changed: "+after)
		return
	}
	known := map[string]bool{}
	for _, op := range filterOperators {
		known[op["name"].(string)] = true
	}
	for _, g := range scopeGroups(userMapping(doc), "groups") {
		for _, cl := range g.clauses {
			if !known[cl.operator] {
				c.badRequest("schemaInvalid", fmt.Sprintf("Unknown filter operator '%s'.", cl.operator))
				return
			}
		}
	}
	j.schema = doc
	if j.scheduleState == "Active" {
		j.nextCycle = s.now().Add(s.opts.InitialCycleDelay)
	}
	c.noContent()
}

// matchingMappings describes every mapping with matchingPriority > 0.
func matchingMappings(doc map[string]any) string {
	var out []string
	rules, _ := doc["synchronizationRules"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		oms, _ := rule["objectMappings"].([]any)
		for _, o := range oms {
			om, _ := o.(map[string]any)
			ams, _ := om["attributeMappings"].([]any)
			for _, a := range ams {
				am, _ := a.(map[string]any)
				if p, _ := am["matchingPriority"].(float64); p > 0 {
					src, _ := json.Marshal(am["source"])
					out = append(out, fmt.Sprintf("%v/%v:%v<-%s", rule["name"], am["targetAttributeName"], p, src))
				}
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ";")
}

func userMapping(doc map[string]any) map[string]any {
	rules, _ := doc["synchronizationRules"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		if rule["name"] != "USER_INBOUND_USER" {
			continue
		}
		oms, _ := rule["objectMappings"].([]any)
		for _, o := range oms {
			om, _ := o.(map[string]any)
			if om["sourceObjectName"] == "User" && om["targetObjectName"] == "User" {
				return om
			}
		}
	}
	return nil
}

type simClause struct {
	attribute, operator string
	values              []string
}

type simGroup struct{ clauses []simClause }

func scopeGroups(om map[string]any, set string) []simGroup {
	scope, _ := om["scope"].(map[string]any)
	raw, _ := scope[set].([]any)
	var out []simGroup
	for _, g := range raw {
		gm, _ := g.(map[string]any)
		var sg simGroup
		cls, _ := gm["clauses"].([]any)
		for _, c := range cls {
			cm, _ := c.(map[string]any)
			cl := simClause{}
			cl.attribute, _ = cm["sourceOperandName"].(string)
			cl.operator, _ = cm["operatorName"].(string)
			operand, _ := cm["targetOperand"].(map[string]any)
			vals, _ := operand["values"].([]any)
			for _, v := range vals {
				cl.values = append(cl.values, fmt.Sprint(v))
			}
			sg.clauses = append(sg.clauses, cl)
		}
		out = append(out, sg)
	}
	return out
}

// attribute is a source user's value for a scoping clause; nil when unset.
func (u *user) attribute(name string) any {
	switch name {
	case "alternativeSecurityIds":
		return "None" // no SMS sign-in in the emulator
	case "displayName":
		return u.displayName
	case "userPrincipalName":
		return u.upn
	case "objectId", "id":
		return u.id
	}
	if v, ok := u.attrs[name]; ok {
		return v
	}
	return nil
}

// passes evaluates a scope as the provisioning service does: clauses of a
// group AND-ed, groups OR-ed, inputFilterGroups AND-ed with the rest; a null
// value fails every clause but IS NULL; EQUALS is case-sensitive.
func (u *user) passes(om map[string]any) bool {
	if om == nil {
		return true
	}
	for _, set := range []string{"inputFilterGroups", "groups"} {
		groups := scopeGroups(om, set)
		if len(groups) == 0 {
			continue
		}
		if !slices.ContainsFunc(groups, func(g simGroup) bool { return u.passesAll(g.clauses) }) {
			return false
		}
	}
	return true
}

func (u *user) passesAll(clauses []simClause) bool {
	for _, cl := range clauses {
		v := u.attribute(cl.attribute)
		if v == nil || v == "" {
			if cl.operator != "IS NULL" {
				return false
			}
			continue
		}
		text := fmt.Sprint(v)
		ok := false
		switch cl.operator {
		case "EQUALS":
			ok = len(cl.values) > 0 && text == cl.values[0]
		case "NOT EQUALS":
			ok = len(cl.values) > 0 && text != cl.values[0]
		case "IS TRUE":
			ok = strings.EqualFold(text, "true")
		case "IS FALSE":
			ok = strings.EqualFold(text, "false")
		case "IS NOT NULL":
			ok = true
		case "REGEX MATCH", "NOT REGEX MATCH":
			if len(cl.values) > 0 {
				if re, err := regexp.Compile(cl.values[0]); err == nil {
					ok = re.MatchString(text) == (cl.operator == "REGEX MATCH")
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// deleteThreshold reads SyncNotificationSettings: how many deletions one
// cycle may make, 0 when the threshold is off.
func deleteThreshold(sp *servicePrincipal) int {
	var settings struct {
		DeleteThresholdEnabled bool
		DeleteThresholdValue   int
	}
	if err := json.NewDecoder(bytes.NewReader([]byte(sp.secrets["SyncNotificationSettings"]))).Decode(&settings); err != nil || !settings.DeleteThresholdEnabled {
		return 0
	}
	return settings.DeleteThresholdValue
}

// SchemaPuts counts the schema PUTs the emulator accepted or refused.
func (s *Server) SchemaPuts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.schemaPuts
}

// JobSchema returns a job's current schema, for assertions.
func (s *Server) JobSchema(tenantID, jobID string) map[string]any {
	var out map[string]any
	s.withTenant(tenantID, func(t *tenant) {
		for _, sp := range t.sps {
			if j, ok := sp.jobs[jobID]; ok {
				out, _ = cloneJSON(j.schema).(map[string]any)
			}
		}
	})
	return out
}
