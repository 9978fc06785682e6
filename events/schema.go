package events

import (
	"encoding/json"
	"fmt"
)

// Schema returns the JSON Schema (draft 2020-12) of events of type t, derived
// from the same field rules Parse enforces. schema/<type>.json holds the
// published copy; a test fails when it drifts from this.
func Schema(t Type) ([]byte, error) {
	spec, ok := Lookup(t)
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", t)
	}
	props := map[string]any{}
	for _, name := range append(append([]string(nil), spec.Required...), spec.Optional...) {
		props[name] = fields[name].schema()
	}
	required := spec.Required
	if required == nil {
		required = []string{}
	}
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaURI(t),
		"title":       string(t),
		"description": spec.Description,
		"type":        "object",
		"required":    []string{"specversion", "id", "source", "type", "data"},
		"properties": map[string]any{
			"specversion":     map[string]any{"const": SpecVersion},
			"id":              map[string]any{"type": "string", "minLength": 1, "maxLength": 256},
			"source":          map[string]any{"type": "string", "minLength": 1},
			"type":            map[string]any{"const": string(t)},
			"subject":         map[string]any{"type": "string"},
			"time":            map[string]any{"type": "string", "format": "date-time"},
			"datacontenttype": map[string]any{"type": "string", "pattern": `^application/json(;.*)?$`},
			"dataschema":      map[string]any{"type": "string"},
			"correlationid":   map[string]any{"type": "string", "description": "CloudEvents extension: shared by every event of one onboarding; defaults to data.onboardingId."},
			"ctsyncattempts": map[string]any{"type": "integer", "minimum": 0, "maximum": maxAttempts,
				"description": "CloudEvents extension, set by ctsync on a requeued copy: the failed attempts so far."},
			"ctsyncwaitsince": map[string]any{"type": "string", "format": "date-time",
				"description": "CloudEvents extension, set by ctsync on a requeued copy: since when the step has been waiting for Entra to catch up."},
			"data": map[string]any{
				"type":       "object",
				"required":   required,
				"properties": props,
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (f field) schema() map[string]any {
	var s map[string]any
	switch f.kind {
	case kindGUID:
		s = map[string]any{"type": "string", "pattern": guidPattern}
	case kindGUIDList:
		s = map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": guidPattern}, "uniqueItems": true}
		if f.minItems > 0 {
			s["minItems"] = f.minItems
		}
		if f.maxLen > 0 {
			s["maxItems"] = f.maxLen
		}
	case kindText:
		s = map[string]any{"type": "string", "minLength": 1, "pattern": textPattern}
		if f.maxLen > 0 {
			s["maxLength"] = f.maxLen
		}
	case kindWord:
		s = map[string]any{"type": "string", "pattern": wordPattern}
	case kindJobID:
		s = map[string]any{"type": "string", "pattern": jobIDPattern}
	case kindCount:
		s = map[string]any{"type": "integer", "minimum": 0}
	case kindTimestamp:
		s = map[string]any{"type": "string", "format": "date-time"}
	case kindEnum:
		s = map[string]any{"type": "string", "enum": f.enum}
	case kindConfiguration:
		s = configurationSchema()
	case kindBool:
		s = map[string]any{"type": "boolean"}
	}
	s["description"] = f.doc
	return s
}
