package entra

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/events"
)

// schemaWithBuiltIn is a CTS job's schema with Microsoft's built-in
// restriction in the given filter set ("groups" or "inputFilterGroups"),
// and fields ctsync does not know, which must survive a round trip.
func schemaWithBuiltIn(t *testing.T, set string) *Schema {
	t.Helper()
	builtIn := `{"name":"Filter external users","clauses":[{"operatorName":"EQUALS","sourceOperandName":"alternativeSecurityIds","targetOperand":{"values":["None"]}}]}`
	groups, input := "["+builtIn+"]", "[]"
	if set == "inputFilterGroups" {
		groups, input = "[]", "["+builtIn+"]"
	}
	raw := `{"@odata.context":"x","id":"Azure2Azure.1","version":"v1.2","futureField":{"a":1.50},
	"directories":[{"id":"d1","name":"Microsoft Entra ID","objects":[]}],
	"synchronizationRules":[
	  {"name":"GROUP_INBOUND_GROUP","objectMappings":[{"sourceObjectName":"Group","targetObjectName":"Group","attributeMappings":[]}]},
	  {"name":"USER_INBOUND_USER","metadata":[{"key":"supportsProvisionOnDemand","value":"true"}],"objectMappings":[
	    {"sourceObjectName":"User","targetObjectName":"User","flowTypes":"Add, Update, Delete",
	     "scope":{"categoryFilterGroups":[],"groups":` + groups + `,"inputFilterGroups":` + input + `},
	     "attributeMappings":[
	       {"targetAttributeName":"alternativeSecurityIds","matchingPriority":1,"flowType":"Always","source":{"type":"Function","name":"AltSecIdFromNetId","expression":"AltSecIdFromNetId([netId])","parameters":[]}},
	       {"targetAttributeName":"userType","matchingPriority":0,"flowType":"ObjectAddOnly","defaultValue":"","source":{"type":"Constant","name":"Member","expression":"\"Member\"","parameters":[]}}]}]}]}`
	s, err := ParseSchema([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func marketing() events.Configuration {
	filters := []events.ScopingFilter{{Name: "Marketing department", Clauses: []events.FilterClause{{Attribute: "department", Operator: "EQUALS", Values: []string{"Marketing"}}}}}
	member := "Member"
	return events.Configuration{ScopingFilters: &filters, DeleteThreshold: 500, AttributeMappings: []events.AttributeMapping{
		{Target: "userType", Constant: &member, Apply: "always"}, {Target: "employeeId", Source: "employeeId"}}}
}

func TestApplyKeepsTheBuiltInRestrictionWhereverItSits(t *testing.T) {
	for _, set := range []string{"groups", "inputFilterGroups"} {
		t.Run(set, func(t *testing.T) {
			s := schemaWithBuiltIn(t, set)
			changes, err := s.Apply(marketing())
			if err != nil || len(changes) != 3 {
				t.Fatalf("changes %+v, %v", changes, err)
			}
			out, _ := s.JSON()
			doc := string(out)
			ours := `{"operatorName":"EQUALS","sourceOperandName":"department","targetOperand":{"values":["Marketing"]}}`
			builtIn := `{"operatorName":"EQUALS","sourceOperandName":"alternativeSecurityIds","targetOperand":{"values":["None"]}}`
			switch set {
			case "groups":
				// OR-ed with ctsync's group it would widen the scope: ctsync's
				// group replaces it and carries its clause.
				if !strings.Contains(doc, `"groups":[{"clauses":[`+ours+`,`+builtIn+`],"name":"Marketing department"}]`) {
					t.Fatalf("built-in not AND-ed into ctsync's group:\n%s", doc)
				}
			default:
				if !strings.Contains(doc, `"groups":[{"clauses":[`+ours+`],"name":"Marketing department"}]`) ||
					!strings.Contains(doc, `"inputFilterGroups":[{"clauses":[`+builtIn+`],"name":"Filter external users"}]`) {
					t.Fatalf("input filter not kept apart:\n%s", doc)
				}
			}
			for _, kept := range []string{`"futureField":{"a":1.50}`, `"GROUP_INBOUND_GROUP"`, `"supportsProvisionOnDemand"`, `"AltSecIdFromNetId([netId])"`, `"flowTypes":"Add, Update, Delete"`} {
				if !strings.Contains(doc, kept) {
					t.Errorf("lost %s", kept)
				}
			}
			if strings.Contains(doc, "@odata.context") {
				t.Error("the answer's @odata.context went into the document")
			}
			// Applying the same configuration again changes nothing.
			again, _ := ParseSchema(out)
			if changes, err := again.Apply(marketing()); err != nil || len(changes) != 0 {
				t.Fatalf("second apply: %+v %v", changes, err)
			}
			scope, _ := again.CurrentScope()
			if len(scope.Filters) != 1 || len(scope.Filters[0].Clauses) != 1 {
				t.Fatalf("current scope %+v", scope)
			}
			// No filters: ctsync's groups go, the built-in restriction stays.
			none := marketing()
			none.ScopingFilters = &[]events.ScopingFilter{}
			if _, err := again.Apply(none); err != nil {
				t.Fatal(err)
			}
			out, _ = again.JSON()
			if strings.Contains(string(out), "Marketing department") || !strings.Contains(string(out), builtIn) {
				t.Fatalf("after removing the filters:\n%s", out)
			}
		})
	}
}

func TestTheMatchingMappingIsNeverChanged(t *testing.T) {
	s := schemaWithBuiltIn(t, "groups")
	c := marketing()
	c.AttributeMappings = []events.AttributeMapping{{Target: "alternativeSecurityIds", Source: "mail"}}
	if _, err := s.Apply(c); err == nil || !strings.Contains(err.Error(), "matching attribute") {
		t.Fatalf("got %v", err)
	}
}

func TestCheckOperatorsAgainstTheJobsList(t *testing.T) {
	c := marketing()
	if err := CheckOperators(c, []FilterOperator{{Name: "EQUALS"}}); err != nil {
		t.Fatal(err)
	}
	err := CheckOperators(c, []FilterOperator{{Name: "IS TRUE"}})
	if err == nil || !strings.Contains(err.Error(), "scopingFilters[0].clauses[0].operator") {
		t.Fatalf("got %v", err)
	}
}
