package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ctsync/ctsync/events"
)

// OnboardingRequest reads an onboarding.requested CloudEvent (structured
// mode), valid field by field. Errors name the field.
func OnboardingRequest(body []byte) (events.Event, error) {
	ev, err := events.Parse(body)
	if err != nil {
		return events.Event{}, err
	}
	if ev.Type != events.OnboardingRequested {
		return events.Event{}, &events.ValidationError{Field: "type",
			Problem: fmt.Sprintf("only %s can be posted here, got %s", events.OnboardingRequested, ev.Type)}
	}
	return ev, nil
}

// Submission is an onboarding request as the HTTP intake received it.
type Submission struct {
	Event events.Event
	// Key makes the request idempotent: the CloudEvent's source and id, or
	// the plain body's onboardingId. Empty when the plain body named no
	// onboardingId (each such request starts a new onboarding).
	Key string
}

// PlainOnboarding is the plain body of POST /onboardings: the data fields of
// onboarding.requested, without the CloudEvent around them.
type PlainOnboarding struct {
	OnboardingID      string   `json:"onboardingId,omitempty"`
	SourceTenantID    string   `json:"sourceTenantId"`
	TargetTenantID    string   `json:"targetTenantId"`
	ConfigurationName string   `json:"configurationName"`
	Users             []string `json:"users"`
	Groups            []string `json:"groups,omitempty"`
	RequestedBy       string   `json:"requestedBy,omitempty"`
}

// OnboardingSubmission reads POST /onboardings: a CloudEvent when the media
// type is application/cloudevents+json or the object has a specversion,
// else the plain onboarding fields. Errors are *events.ValidationError
// naming the field (for a plain body, without the "data." a CloudEvent's
// fields carry).
func OnboardingSubmission(mediaType string, body []byte, now time.Time) (Submission, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return Submission{}, &events.ValidationError{Field: "body", Problem: "not a JSON object: " + err.Error()}
	}
	if _, ce := probe["specversion"]; ce || mediaType == "application/cloudevents+json" {
		ev, err := OnboardingRequest(body)
		if err != nil {
			return Submission{}, err
		}
		return Submission{Event: ev, Key: idempotencyKey("cloudevent", ev.Source, ev.ID)}, nil
	}
	var plain PlainOnboarding
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plain); err != nil {
		return Submission{}, &events.ValidationError{Field: jsonField(err), Problem: err.Error()}
	}
	id, key := strings.ToLower(strings.TrimSpace(plain.OnboardingID)), ""
	if id == "" {
		id = uuid.NewString()
	} else {
		key = idempotencyKey("onboarding", id)
	}
	ev, err := events.New(events.OnboardingRequested, events.Onboarding{OnboardingID: id,
		SourceTenantID: lower(plain.SourceTenantID), TargetTenantID: lower(plain.TargetTenantID),
		ConfigurationName: strings.TrimSpace(plain.ConfigurationName), Users: lowerAll(plain.Users), Groups: lowerAll(plain.Groups),
		RequestedBy: plain.RequestedBy})
	if err != nil {
		return Submission{}, err
	}
	ev.Stamp("/ctsync/api", id, id, now)
	if key != "" {
		ev.ID = events.DeriveID(id, string(events.OnboardingRequested), 0) // the same request, the same event
	}
	_, sealed, err := ev.Sealed()
	if err != nil {
		var ve *events.ValidationError
		if errors.As(err, &ve) {
			return Submission{}, &events.ValidationError{Field: strings.TrimPrefix(ve.Field, "data."), Problem: ve.Problem}
		}
		return Submission{}, err
	}
	return Submission{Event: sealed, Key: key}, nil
}

func idempotencyKey(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// jsonField names the field a decoding error is about, when it says.
func jsonField(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return typeErr.Field
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		if name := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`); name != "" {
			return name
		}
	}
	return "body"
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func lowerAll(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, lower(s))
	}
	return out
}
