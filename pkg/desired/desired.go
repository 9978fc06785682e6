// Package desired reads ctsync's desired-state file: the tenant pairs an
// organization wants synchronized, each with its assignments, scoping
// filters, attribute mappings and delete threshold. The file is YAML (JSON
// is YAML too), checked against schema.json — the JSON Schema editors
// validate it with — and then against Microsoft's documented rules, each
// error naming its field.
package desired

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/ctsync/ctsync/events"
)

// APIVersion is the file format this ctsync reads.
const APIVersion = "ctsync/v1"

// MaxFileSize bounds what Load reads: a thousand pairs fit many times over.
const MaxFileSize = 16 << 20

// File is a desired-state file.
type File struct {
	APIVersion string   `json:"apiVersion"`
	Pairs      []Pair   `json:"pairs,omitempty"`
	FanOut     []FanOut `json:"fanOut,omitempty"`

	spokes []Pair // one per spoke of each fanOut entry
}

// All returns every pair of the file: those listed, then one per spoke of
// each fanOut entry.
func (f *File) All() []Pair { return append(append([]Pair(nil), f.Pairs...), f.spokes...) }

// FanOut is one hub synchronizing to many spokes: one pair per spoke, the
// hub as the source, named from Name with {target} replaced by the spoke's
// tenant id. Provision on demand is off unless asked for: the job's first
// cycle provisions everyone, and Graph allows about five on-demand
// requests per ten seconds per tenant, which a hub would spend a thousand
// times over.
type FanOut struct {
	Hub    string   `json:"hub"`
	Spokes []string `json:"spokes"`
	Name   string   `json:"name"`
	Settings
}

// Settings are what a pair and a fanOut entry (for each of its spokes)
// ask of the configuration.
type Settings struct {
	Users             []string                  `json:"users,omitempty"`
	Groups            []string                  `json:"groups,omitempty"`
	ScopingFilters    *[]events.ScopingFilter   `json:"scopingFilters,omitempty"`
	AttributeMappings []events.AttributeMapping `json:"attributeMappings,omitempty"`
	DeleteThreshold   *int                      `json:"deleteThreshold,omitempty"`
	ProvisionOnDemand *bool                     `json:"provisionOnDemand,omitempty"`
}

// TargetPlaceholder is what a fanOut name's spoke tenant id replaces.
const TargetPlaceholder = "{target}"

// expand makes one pair per spoke of every fanOut entry.
func (f *File) expand() {
	f.spokes = nil
	for i, fo := range f.FanOut {
		settings := fo.Settings
		if settings.ProvisionOnDemand == nil {
			settings.ProvisionOnDemand = new(bool)
		}
		for j, spoke := range fo.Spokes {
			f.spokes = append(f.spokes, Pair{Name: strings.ReplaceAll(fo.Name, TargetPlaceholder, strings.ToLower(spoke)), SourceTenant: fo.Hub,
				TargetTenant: spoke, Settings: settings, origin: &fanOrigin{entry: i, spoke: j}})
		}
	}
}

// fanOrigin says which fanOut entry and spoke a pair came from, so errors
// name the file's own fields.
type fanOrigin struct{ entry, spoke int }

// field names a field of the pair as the file spells it.
func (p Pair) field(index int, name string) string {
	if p.origin == nil {
		return fmt.Sprintf("pairs[%d]", index) + dotted(name)
	}
	at := fmt.Sprintf("fanOut[%d]", p.origin.entry)
	switch {
	case strings.HasPrefix(name, "sourceTenant"):
		return at + ".hub"
	case name == "", strings.HasPrefix(name, "targetTenant"):
		return fmt.Sprintf("%s.spokes[%d]", at, p.origin.spoke)
	}
	return at + dotted(name)
}

func dotted(name string) string {
	if name == "" {
		return ""
	}
	return "." + name
}

// Pair is one tenant pair's desired configuration.
type Pair struct {
	Name         string `json:"name"`
	SourceTenant string `json:"sourceTenant"`
	TargetTenant string `json:"targetTenant"`
	Settings
	// State is present (the default) or absent: apply offboards an absent
	// pair, deleting its partner configurations too with RemovePartners.
	State          string `json:"state,omitempty"`
	RemovePartners bool   `json:"removePartners,omitempty"`

	origin *fanOrigin // set for a pair a fanOut entry made
}

// Pair states.
const (
	Present = "present"
	Absent  = "absent"
)

// Absent reports whether the file asks for the pair to be offboarded.
func (p Pair) Absent() bool { return p.State == Absent }

// Configuration is what the pair asks of the job: the file is the whole
// truth for its assignments.
func (p Pair) Configuration() events.Configuration {
	c := events.Configuration{ScopingFilters: p.ScopingFilters, AttributeMappings: p.AttributeMappings,
		DeleteThreshold: events.DefaultDeleteThreshold, ExactAssignments: true, ProvisionOnDemand: p.ProvisionOnDemand}
	if p.DeleteThreshold != nil {
		c.DeleteThreshold = *p.DeleteThreshold
	}
	return c
}

// Onboarding is the onboarding.requested data that brings the pair to its
// desired state.
func (p Pair) Onboarding(onboardingID, requestedBy string) events.Onboarding {
	c := p.Configuration()
	return events.Onboarding{OnboardingID: onboardingID, SourceTenantID: strings.ToLower(p.SourceTenant), TargetTenantID: strings.ToLower(p.TargetTenant),
		ConfigurationName: p.Name, Users: lower(p.Users), Groups: lower(p.Groups), RequestedBy: requestedBy, Configuration: &c}
}

func lower(ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, strings.ToLower(id))
	}
	return out
}

// Error is a problem in the file, at a field path such as
// pairs[0].scopingFilters[1].clauses[0].operator.
type Error struct {
	File, Field, Problem string
}

func (e *Error) Error() string {
	where := e.Field
	if e.File != "" {
		where = e.File + ": " + where
	}
	return where + ": " + e.Problem
}

// Load reads and checks the file at path.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := readLimited(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	file, err := Parse(raw)
	var fe *Error
	if errors.As(err, &fe) {
		fe.File = path
	}
	return file, err
}

func readLimited(f *os.File) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxFileSize>>20)
	}
	return raw, nil
}

// Parse checks a desired-state document: YAML syntax, then the JSON Schema,
// then the rules a schema cannot say (distinct tenants, one entry per pair,
// Microsoft's scoping and mapping constraints).
func Parse(raw []byte) (*File, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		return nil, &Error{Field: "(file)", Problem: "not valid YAML: " + err.Error()}
	}
	var doc any
	if err := node.Decode(&doc); err != nil {
		return nil, &Error{Field: "(file)", Problem: "not valid YAML: " + err.Error()}
	}
	doc, err := jsonValue(doc, "")
	if err != nil {
		return nil, err
	}
	if err := validator().Validate(doc); err != nil {
		return nil, schemaError(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, &Error{Field: "(file)", Problem: err.Error()}
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &Error{Field: "(file)", Problem: err.Error()}
	}
	f.expand()
	if err := f.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

// jsonValue turns what YAML decoded into JSON's types: string keys only,
// and no values JSON cannot carry.
func jsonValue(v any, path string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			c, err := jsonValue(val, join(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		return nil, &Error{Field: orFile(path), Problem: "keys must be text"}
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			c, err := jsonValue(val, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case nil, string, bool, int, int64, uint64, float64:
		return t, nil
	default:
		return nil, &Error{Field: orFile(path), Problem: fmt.Sprintf("a %T cannot be used here; write it as text", v)}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orFile(path string) string {
	if path == "" {
		return "(file)"
	}
	return path
}

func (f *File) check() error {
	seen := map[string]string{}
	names := map[string]string{}
	for i, p := range f.All() {
		if strings.EqualFold(p.SourceTenant, p.TargetTenant) {
			return &Error{Field: p.field(i, "targetTenant"), Problem: "must differ from sourceTenant (a tenant cannot synchronize with itself)"}
		}
		key := strings.ToLower(p.SourceTenant + "/" + p.TargetTenant)
		if other, dup := seen[key]; dup {
			return &Error{Field: p.field(i, ""), Problem: fmt.Sprintf("%s already declares source %s → target %s", other, p.SourceTenant, p.TargetTenant)}
		}
		seen[key] = p.field(i, "")
		name := strings.ToLower(p.SourceTenant + "/" + strings.TrimSpace(p.Name))
		if other, dup := names[name]; dup {
			problem := fmt.Sprintf("%s uses the same name in the same source tenant; each configuration app needs its own", other)
			if p.origin != nil {
				problem += " (put " + TargetPlaceholder + " in the name: each spoke's becomes its own)"
			}
			return &Error{Field: p.field(i, "name"), Problem: problem}
		}
		names[name] = p.field(i, "")
		if p.RemovePartners && !p.Absent() {
			return &Error{Field: p.field(i, "removePartners"), Problem: "applies only to a pair with state: absent"}
		}
		// The event the pair becomes must pass the same checks as every
		// other onboarding.requested (offboarding.requested when absent).
		ev, err := events.New(events.OnboardingRequested, p.Onboarding("00000000-0000-4000-8000-000000000000", "ctsync apply"))
		if p.Absent() {
			ev, err = events.New(events.OffboardingRequested, events.Offboarding{OffboardingID: "00000000-0000-4000-8000-000000000000",
				SourceTenantID: strings.ToLower(p.SourceTenant), TargetTenantID: strings.ToLower(p.TargetTenant), ConfigurationName: p.Name})
		}
		if err == nil {
			ev.Stamp("/ctsync/apply", "check", "", time.Time{})
			err = ev.Validate()
		}
		var ve *events.ValidationError
		if errors.As(err, &ve) {
			return &Error{Field: p.field(i, fileField(ve.Field)), Problem: ve.Problem}
		}
		if err != nil {
			return &Error{Field: p.field(i, ""), Problem: err.Error()}
		}
	}
	return nil
}

// fileField names an event field as the file names it.
func fileField(field string) string {
	field = strings.TrimPrefix(field, "data.")
	field = strings.TrimPrefix(field, "configuration.")
	for from, to := range map[string]string{"sourceTenantId": "sourceTenant", "targetTenantId": "targetTenant", "configurationName": "name"} {
		if strings.HasPrefix(field, from) {
			return to + strings.TrimPrefix(field, from)
		}
	}
	return field
}

func schemaError(err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &Error{Field: "(file)", Problem: err.Error()}
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	var path string
	for _, tok := range leaf.InstanceLocation {
		if n, convErr := fmt.Sscanf(tok, "%d", new(int)); convErr == nil && n == 1 && strings.Trim(tok, "0123456789") == "" {
			path += "[" + tok + "]"
		} else {
			path = join(path, tok)
		}
	}
	return &Error{Field: orFile(path), Problem: leaf.ErrorKind.LocalizedString(message.NewPrinter(language.English))}
}

//go:embed schema.json
var schemaJSON []byte

// SchemaJSON is the file's JSON Schema (schema.json beside this file).
func SchemaJSON() []byte { return schemaJSON }

var (
	compileOnce sync.Once
	compiled    *jsonschema.Schema
)

func validator() *jsonschema.Schema {
	compileOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
		if err != nil {
			panic("desired: schema.json: " + err.Error())
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(SchemaURI, doc); err != nil {
			panic("desired: schema.json: " + err.Error())
		}
		compiled = c.MustCompile(SchemaURI)
	})
	return compiled
}

// SchemaURI is the schema's $id.
const SchemaURI = "https://ctsync.dev/schemas/desired-state.json"

// Schema builds the file's JSON Schema from the same parts as the event
// schemas; schema.json is its published copy (make schemas), and a test
// fails when they differ.
func Schema() ([]byte, error) {
	guid := map[string]any{"type": "string", "pattern": `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`}
	ids := func(desc string, min int) map[string]any {
		s := map[string]any{"type": "array", "items": guid, "uniqueItems": true, "maxItems": 1000, "description": desc}
		if min > 0 {
			s["minItems"] = min
		}
		return s
	}
	pair := map[string]any{
		"type": "object", "additionalProperties": false,
		"required": []string{"name", "sourceTenant", "targetTenant"},
		// users are required of a pair that is present, not of one to offboard.
		"if":   map[string]any{"required": []string{"state"}, "properties": map[string]any{"state": map[string]any{"const": Absent}}},
		"else": map[string]any{"required": []string{"users"}},
		"properties": map[string]any{
			"name":              map[string]any{"type": "string", "minLength": 1, "maxLength": 256, "description": "The configuration app's display name in the source tenant."},
			"sourceTenant":      withDesc(guid, "Tenant id whose users are synchronized."),
			"targetTenant":      withDesc(guid, "Tenant id that receives them."),
			"users":             ids("Object ids of source users assigned to the configuration; assignments not listed are removed. The first is provisioned on demand.", 1),
			"groups":            ids("Object ids of source groups assigned to the configuration (their direct members are in scope).", 0),
			"scopingFilters":    events.ScopingFiltersSchema(),
			"attributeMappings": events.AttributeMappingsSchema(),
			"deleteThreshold":   events.DeleteThresholdSchema(),
			"provisionOnDemand": map[string]any{"type": "boolean", "default": true, "description": "Provision the first user at once, before the job starts."},
			"state": map[string]any{"type": "string", "enum": []string{Present, Absent}, "default": Present,
				"description": "absent: apply offboards the pair (job, configuration app, the identity synchronization policy ctsync created), after asking; synchronized accounts stay. Removing a pair from the file deletes nothing."},
			"removePartners": map[string]any{"type": "boolean", "default": false,
				"description": "With state: absent, also delete the partner configurations ctsync created and turn off the automatic redemption it turned on in those it found."},
		},
	}
	fanOut := map[string]any{
		"type": "object", "additionalProperties": false,
		"description": "One pair per spoke, the hub as the source of every one.",
		"required":    []string{"hub", "spokes", "name", "users"},
		"properties": map[string]any{
			"hub": withDesc(guid, "Tenant id whose users are synchronized to every spoke."),
			"spokes": map[string]any{"type": "array", "items": guid, "uniqueItems": true, "minItems": 1, "maxItems": 10000,
				"description": "Tenant ids that receive them, one pair each."},
			"name": map[string]any{"type": "string", "minLength": 1, "maxLength": 256, "pattern": `\{target\}`,
				"description": "Each configuration app's name; {target} is replaced by the spoke's tenant id."},
			"users":             ids("Object ids of hub users assigned to every spoke's configuration.", 1),
			"groups":            ids("Object ids of hub groups assigned to every spoke's configuration.", 0),
			"scopingFilters":    events.ScopingFiltersSchema(),
			"attributeMappings": events.AttributeMappingsSchema(),
			"deleteThreshold":   events.DeleteThresholdSchema(),
			"provisionOnDemand": map[string]any{"type": "boolean", "default": false,
				"description": "Provision a user on demand per spoke before its job starts (Graph allows about 5 per 10 s per tenant; the first cycle provisions everyone anyway)."},
		},
	}
	doc := map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SchemaURI,
		"title":       "ctsync desired state",
		"description": "Tenant pairs for Microsoft Entra cross-tenant synchronization, previewed with `ctsync plan -f FILE` and made so with `ctsync apply -f FILE`.",
		"type":        "object", "additionalProperties": false, "required": []string{"apiVersion"},
		"properties": map[string]any{
			"apiVersion": map[string]any{"const": APIVersion},
			"pairs":      map[string]any{"type": "array", "maxItems": 10000, "items": pair},
			"fanOut":     map[string]any{"type": "array", "maxItems": 100, "items": fanOut},
		},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n'), err
}

func withDesc(s map[string]any, desc string) map[string]any {
	c := map[string]any{}
	for k, v := range s {
		c[k] = v
	}
	c["description"] = desc
	return c
}
