package desired

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTheIssuesExampleParses(t *testing.T) {
	f, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Pairs) != 1 {
		t.Fatalf("%d pairs", len(f.Pairs))
	}
	c := f.Pairs[0].Configuration()
	if !c.ExactAssignments || c.DeleteThreshold != 500 || c.ScopingFilters == nil || len(*c.ScopingFilters) != 1 ||
		(*c.ScopingFilters)[0].Clauses[0].Values[0] != "Marketing" || len(c.AttributeMappings) != 2 || *c.AttributeMappings[0].Constant != "Member" {
		t.Fatalf("configuration %+v", c)
	}
	// JSON is YAML too.
	raw, _ := json.Marshal(f)
	if _, err := Parse(raw); err != nil {
		t.Fatalf("the same file as JSON: %v", err)
	}
}

func TestOmittedDeleteThresholdIs500(t *testing.T) {
	f, err := Parse([]byte(strings.Replace(example(t), "    deleteThreshold: 500\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Pairs[0].Configuration().DeleteThreshold; got != 500 {
		t.Fatalf("deleteThreshold %d", got)
	}
}

func example(t *testing.T) string {
	raw, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// Every validation error names the field to fix.
func TestEveryValidationErrorNamesItsField(t *testing.T) {
	cases := []struct{ name, from, to, field, says string }{
		{"unknown operator", "operator: EQUALS", "operator: EQUAL", "pairs[0].scopingFilters[0].clauses[0].operator", "EQUALS"},
		{"userType as a filter", "attribute: department", "attribute: userType", "pairs[0].scopingFilters[0].clauses[0].attribute", "userType"},
		{"manager as a filter", "attribute: department", "attribute: manager", "pairs[0].scopingFilters[0].clauses[0].attribute", "manager"},
		{"appRoleAssignments as a filter", "attribute: department", "attribute: appRoleAssignments", "pairs[0].scopingFilters[0].clauses[0].attribute", "app role"},
		{"a date as a filter", "attribute: department", "attribute: employeeHireDate", "pairs[0].scopingFilters[0].clauses[0].attribute", "date"},
		{"a multi-valued attribute as a filter", "attribute: department", "attribute: proxyAddresses", "pairs[0].scopingFilters[0].clauses[0].attribute", "multi-valued"},
		{"binary operator without a value", "            values: [Marketing]\n", "", "pairs[0].scopingFilters[0].clauses[0].values", "value"},
		{"unary operator with a value", "operator: EQUALS", "operator: IS NULL", "pairs[0].scopingFilters[0].clauses[0].values", "no value"},
		{"bad regex", "operator: EQUALS\n            values: [Marketing]", "operator: REGEX MATCH\n            values: ['(']", "pairs[0].scopingFilters[0].clauses[0].values[0]", "regular expression"},
		{"matching attribute as a target", "target: employeeId", "target: alternativeSecurityIds", "pairs[0].attributeMappings[1].target", "matching attribute"},
		{"userType as a source", "source: employeeId", "source: userType", "pairs[0].attributeMappings[1].source", "userType"},
		{"source and constant", "        source: employeeId", "        source: employeeId\n        constant: x", "pairs[0].attributeMappings[1]", ""},
		{"expression too long", "constant: Member", "constant: " + strings.Repeat("x", 10001), "pairs[0].attributeMappings[0].constant", ""},
		{"apply value", "apply: always", "apply: sometimes", "pairs[0].attributeMappings[0].apply", ""},
		{"threshold zero", "deleteThreshold: 500", "deleteThreshold: 0", "pairs[0].deleteThreshold", ""},
		{"tenant not a GUID", "sourceTenant: 0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11", "sourceTenant: contoso", "pairs[0].sourceTenant", ""},
		{"same tenant twice", "targetTenant: 9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55", "targetTenant: 0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11", "pairs[0].targetTenant", "differ"},
		{"unknown key", "    deleteThreshold: 500", "    deleteThreshold: 500\n    color: blue", "pairs[0]", "color"},
		{"no users", "    users: [61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10]\n", "", "pairs[0]", "users"},
		{"removePartners on a present pair", "    deleteThreshold: 500", "    deleteThreshold: 500\n    removePartners: true", "pairs[0].removePartners", "state: absent"},
		{"unknown state", "    deleteThreshold: 500", "    deleteThreshold: 500\n    state: gone", "pairs[0].state", ""},
		{"wrong apiVersion", "apiVersion: ctsync/v1", "apiVersion: ctsync/v2", "apiVersion", ""},
		{"not YAML", "pairs:", "pairs: [", "(file)", "YAML"},
	}
	base := example(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.from) {
				t.Fatalf("the example has no %q", tc.from)
			}
			_, err := Parse([]byte(strings.Replace(base, tc.from, tc.to, 1)))
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("want a field error, got %v", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Problem, tc.says) {
				t.Fatalf("got %q: %q; want field %q saying %q", fe.Field, fe.Problem, tc.field, tc.says)
			}
		})
	}
}

// A pair to offboard needs no users; one that stays present does.
func TestAnAbsentPairNeedsNoUsers(t *testing.T) {
	absent := strings.Replace(example(t), "    users: [61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10]\n", "    state: absent\n    removePartners: true\n", 1)
	f, err := Parse([]byte(absent))
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Pairs[0]; !p.Absent() || !p.RemovePartners || len(p.Users) != 0 {
		t.Fatalf("pair %+v", p)
	}
	// Its JSON form, without users, reads back the same.
	js, _ := json.Marshal(f)
	if _, err := Parse(js); err != nil {
		t.Fatalf("the absent pair's JSON form %s: %v", js, err)
	}
}

func TestDuplicatePairsAreRefused(t *testing.T) {
	base := example(t)
	i := strings.Index(base, "  - name:")
	doubled := base + strings.Replace(base[i:], "Contoso to Fabrikam", "Second", 1)
	_, err := Parse([]byte(doubled))
	var fe *Error
	if !errors.As(err, &fe) || fe.Field != "pairs[1]" {
		t.Fatalf("got %v", err)
	}
}

// FuzzParse: no input makes Parse panic, and what it accepts survives a
// round trip through JSON unchanged.
func FuzzParse(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte("apiVersion: ctsync/v1\npairs: []\n"))
	f.Add([]byte("{\"apiVersion\":\"ctsync/v1\",\"pairs\":[{}]}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		file, err := Parse(raw)
		if err != nil {
			return
		}
		js, err := json.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(js)
		if err != nil {
			t.Fatalf("accepted %q but not its JSON form %s: %v", raw, js, err)
		}
		js2, _ := json.Marshal(again)
		if string(js) != string(js2) {
			t.Fatalf("round trip changed %s into %s", js, js2)
		}
	})
}

const fanOutFile = `apiVersion: ctsync/v1
fanOut:
  - hub: 0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11
    spokes: [9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55, 4d1e0f2a-6b7c-4d8e-9f01-23456789abcd]
    name: "Contoso to {target}"
    users: [61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10]
`

// A fanOut entry becomes one pair per spoke, the hub as the source, named
// per spoke, provisioning on demand only when asked.
func TestAFanOutIsOnePairPerSpoke(t *testing.T) {
	f, err := Parse([]byte(fanOutFile))
	if err != nil {
		t.Fatal(err)
	}
	all := f.All()
	if len(all) != 2 || all[1].Name != "Contoso to 4d1e0f2a-6b7c-4d8e-9f01-23456789abcd" || all[1].SourceTenant != "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11" ||
		all[0].TargetTenant != "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55" {
		t.Fatalf("pairs %+v", all)
	}
	if pod := all[0].Configuration().ProvisionOnDemand; pod == nil || *pod {
		t.Fatalf("provisionOnDemand in a fanOut defaults to false, got %v", pod)
	}
	if pod := f.Pairs; len(pod) != 0 {
		t.Fatalf("listed pairs %+v", pod)
	}
	for _, tc := range []struct{ from, to, field, says string }{
		{`"Contoso to {target}"`, `"Contoso"`, "fanOut[0].name", ""},
		{"4d1e0f2a-6b7c-4d8e-9f01-23456789abcd]", "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11]", "fanOut[0].spokes[1]", "differ"},
		{"    users: [61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10]\n", "", "fanOut[0]", "users"},
	} {
		_, err := Parse([]byte(strings.Replace(fanOutFile, tc.from, tc.to, 1)))
		var fe *Error
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Problem, tc.says) {
			t.Errorf("%s → %s: got %v; want field %s", tc.from, tc.to, err, tc.field)
		}
	}
	// A pair listed in pairs and fanned out too is declared twice.
	twice := fanOutFile + `pairs:
  - name: Listed
    sourceTenant: 0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11
    targetTenant: 9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55
    users: [61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10]
`
	var fe *Error
	if _, err := Parse([]byte(twice)); !errors.As(err, &fe) || fe.Field != "fanOut[0].spokes[0]" || !strings.Contains(fe.Problem, "pairs[0] already declares") {
		t.Fatalf("a spoke listed in pairs too: %v", err)
	}
}
