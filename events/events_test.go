package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite schema/*.json from the specs")

func TestSchemaFilesMatchSpecs(t *testing.T) {
	for _, spec := range Specs() {
		want, err := Schema(spec.Type)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		path := filepath.Join("schema", string(spec.Type)+".json")
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run `make schemas`)", path, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s drifted from the spec in spec.go; run `make schemas`", path)
		}
	}
	files, _ := filepath.Glob("schema/*.json")
	if len(files) != len(Specs()) {
		t.Errorf("schema/ holds %d files for %d event types", len(files), len(Specs()))
	}
}

func compileSchema(t *testing.T, typ Type) *jsonschema.Schema {
	t.Helper()
	raw, err := Schema(typ)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(SchemaURI(typ), doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaURI(typ))
	if err != nil {
		t.Fatalf("%s: schema does not compile: %v", typ, err)
	}
	return s
}

func readExample(t *testing.T, typ Type) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("examples", string(typ)+".json"))
	if err != nil {
		t.Fatalf("every event type needs an example: %v", err)
	}
	return raw
}

func TestEveryExampleIsValidByGoAndBySchema(t *testing.T) {
	for _, spec := range Specs() {
		raw := readExample(t, spec.Type)
		ev, err := Parse(raw)
		if err != nil {
			t.Errorf("%s: example rejected: %v", spec.Type, err)
			continue
		}
		if ev.Type != spec.Type {
			t.Errorf("%s: example has type %s", spec.Type, ev.Type)
		}
		data := spec.NewData()
		if err := ev.DecodeData(data); err != nil {
			t.Errorf("%s: %v", spec.Type, err)
		}
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err := compileSchema(t, spec.Type).Validate(inst); err != nil {
			t.Errorf("%s: example rejected by its JSON Schema: %v", spec.Type, err)
		}
	}
}

// mutate returns the onboarding.requested example with fn applied.
func mutate(t *testing.T, fn func(ev map[string]any, data map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readExample(t, OnboardingRequested), &ev); err != nil {
		t.Fatal(err)
	}
	fn(ev, ev["data"].(map[string]any))
	out, _ := json.Marshal(ev)
	return out
}

func TestMalformedEventsAreRejectedNamingTheField(t *testing.T) {
	cases := []struct {
		name      string
		body      []byte
		field     string
		schemaToo bool // the JSON Schema can express the rule as well
	}{
		{"not json", []byte(`{"specversion":`), "event", false},
		{"array", []byte(`[1,2]`), "event", false},
		{"missing id", mutate(t, func(e, d map[string]any) { delete(e, "id") }), "id", true},
		{"wrong specversion", mutate(t, func(e, d map[string]any) { e["specversion"] = "0.3" }), "specversion", true},
		{"unknown type", mutate(t, func(e, d map[string]any) { e["type"] = "onboarding.exploded" }), "type", false},
		{"bad time", mutate(t, func(e, d map[string]any) { e["time"] = "yesterday" }), "time", true},
		{"xml data", mutate(t, func(e, d map[string]any) { e["datacontenttype"] = "application/xml" }), "datacontenttype", true},
		{"missing data", mutate(t, func(e, d map[string]any) { delete(e, "data") }), "data", true},
		{"bad source tenant guid", mutate(t, func(e, d map[string]any) { d["sourceTenantId"] = "contoso.onmicrosoft.com" }), "data.sourceTenantId", true},
		{"missing target tenant", mutate(t, func(e, d map[string]any) { delete(d, "targetTenantId") }), "data.targetTenantId", true},
		{"same tenants", mutate(t, func(e, d map[string]any) { d["targetTenantId"] = d["sourceTenantId"] }), "data.targetTenantId", false},
		{"no users", mutate(t, func(e, d map[string]any) { d["users"] = []any{} }), "data.users", true},
		{"users not a list", mutate(t, func(e, d map[string]any) { d["users"] = "61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10" }), "data.users", true},
		{"bad user guid", mutate(t, func(e, d map[string]any) {
			d["users"] = []any{"61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10", "adele@contoso.com"}
		}), "data.users[1]", true},
		{"duplicate user", mutate(t, func(e, d map[string]any) {
			d["users"] = []any{"61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10", "61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10"}
		}), "data.users[1]", true},
		{"bad group guid", mutate(t, func(e, d map[string]any) { d["groups"] = []any{"{83e4f6a0-912c-4d5e-9f70-2c4d6e8f0a32}"} }), "data.groups[0]", true},
		{"blank name", mutate(t, func(e, d map[string]any) { d["configurationName"] = "   " }), "data.configurationName", true},
		{"name with newline", mutate(t, func(e, d map[string]any) { d["configurationName"] = "a\nb" }), "data.configurationName", true},
		{"name too long", mutate(t, func(e, d map[string]any) { d["configurationName"] = strings.Repeat("x", 257) }), "data.configurationName", true},
		{"data not an object", mutate(t, func(e, d map[string]any) { e["data"] = "hello" }), "data", true},
		{"onboarding id not a guid", mutate(t, func(e, d map[string]any) { d["onboardingId"] = 42 }), "data.onboardingId", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.body)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			if ve.Field != tc.field {
				t.Fatalf("error names %q, want %q (%v)", ve.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("message %q does not name the field", err)
			}
			if tc.schemaToo {
				inst, jerr := jsonschema.UnmarshalJSON(bytes.NewReader(tc.body))
				if jerr != nil {
					t.Fatal(jerr)
				}
				if err := compileSchema(t, OnboardingRequested).Validate(inst); err == nil {
					t.Fatalf("the JSON Schema accepts what Parse rejects")
				}
			}
		})
	}
}

func TestLaterStepsRequireTheIdsEarlierStepsLearned(t *testing.T) {
	var ev map[string]any
	if err := json.Unmarshal(readExample(t, SourceJobEnsured), &ev); err != nil {
		t.Fatal(err)
	}
	delete(ev["data"].(map[string]any), "jobId")
	body, _ := json.Marshal(ev)
	_, err := Parse(body)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "data.jobId" {
		t.Fatalf("want data.jobId named, got %v", err)
	}
}

func TestFollowFromDerivesStableIDsAndKeepsCorrelation(t *testing.T) {
	parent, err := Parse(readExample(t, OnboardingRequested))
	if err != nil {
		t.Fatal(err)
	}
	a := MustNew(TargetPartnerEnsured, Onboarding{})
	b := MustNew(TargetPartnerEnsured, Onboarding{})
	a.FollowFrom(parent, "/x", 0, parent.Time)
	b.FollowFrom(parent, "/x", 0, parent.Time)
	if a.ID != b.ID || a.ID == parent.ID {
		t.Fatalf("ids: %s %s (parent %s)", a.ID, b.ID, parent.ID)
	}
	c := MustNew(TargetPartnerEnsured, Onboarding{})
	c.FollowFrom(parent, "/x", 1, parent.Time)
	if c.ID == a.ID {
		t.Fatal("the n-th event must get its own id")
	}
	if a.CorrelationID != parent.CorrelationID || a.Subject != parent.Subject {
		t.Fatalf("correlation not carried: %+v", a)
	}
}

func TestFreshDropsTheRedeliveryAttributesOnly(t *testing.T) {
	body := []byte(`{"specversion":"1.0","id":"x","ctsyncattempts":14,"ctsyncwaitsince":"2026-11-30T09:00:00Z","data":{"a":1}}`)
	var got map[string]any
	if err := json.Unmarshal(Fresh(body), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["ctsyncattempts"]; ok || got["ctsyncwaitsince"] != nil || got["id"] != "x" || got["data"] == nil {
		t.Fatalf("fresh %v", got)
	}
	if string(Fresh([]byte("not json"))) != "not json" {
		t.Fatal("a body that is not JSON must pass unchanged")
	}
}
