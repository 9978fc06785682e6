// Package events is ctsync's vocabulary: the CloudEvents 1.0 envelope every
// queue message carries, one event type per step outcome, the data each type
// holds, and validation that names the offending field. JSON Schemas and an
// example per type live beside it (schema/, examples/); both are derived from
// or checked against the tables in this package by tests.
package events

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// SpecVersion is the CloudEvents version ctsync speaks.
const SpecVersion = "1.0"

// ContentType is the only data content type ctsync produces and accepts.
const ContentType = "application/json"

// Event is a CloudEvents 1.0 event in structured mode: attributes and data in
// one JSON document, so it survives transports that carry only a body (Azure
// Functions output bindings, SQS). CorrelationID is a CloudEvents extension
// attribute shared by every event of one onboarding or harvest run.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            Type      `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	DataSchema      string    `json:"dataschema,omitempty"`
	CorrelationID   string    `json:"correlationid"`
	// Attempts and WaitingSince are ctsync's redelivery extension
	// attributes, set only on a copy the router requeued: the failed
	// attempts so far, and since when the handler has been answering "not
	// yet". Carried in the document so every transport (the embedded queue,
	// Service Bus, SQS) keeps them alike.
	Attempts     int             `json:"ctsyncattempts,omitempty"`
	WaitingSince *time.Time      `json:"ctsyncwaitsince,omitempty"`
	Data         json.RawMessage `json:"data"`

	// NotBefore asks the bus to deliver the event no earlier than this time
	// (a monitor re-check, a backoff). It travels as a bus property, not in
	// the document.
	NotBefore time.Time `json:"-"`

	// payload is Data decoded into its type's Go struct, set by Parse, so
	// a message is decoded once per hop.
	payload any
}

// Payload returns the data decoded into its type's Go struct (a pointer,
// e.g. *Onboarding), for an event that came from Parse; nil otherwise.
func (e Event) Payload() any { return e.payload }

// Paired is implemented by the data of every event about one tenant pair's
// onboarding (Onboarding and the types that embed it).
type Paired interface{ Pair() *Onboarding }

// Pair implements Paired.
func (o *Onboarding) Pair() *Onboarding { return o }

// OnboardingOf returns the onboarding an event parsed by Parse is about.
func OnboardingOf(e Event) (*Onboarding, bool) {
	p, ok := e.payload.(Paired)
	if !ok {
		return nil, false
	}
	return p.Pair(), true
}

// New builds an event of type t carrying data. The chain fills in id, source,
// correlation and time when a handler's result is published; callers outside
// the chain (intake, CLI) use Stamp.
func New(t Type, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s data: %w", t, err)
	}
	return Event{
		SpecVersion:     SpecVersion,
		Type:            t,
		DataContentType: ContentType,
		DataSchema:      SchemaURI(t),
		Data:            raw,
	}, nil
}

// MustNew is New for data types that always encode (the structs of this package).
func MustNew(t Type, data any) Event {
	e, err := New(t, data)
	if err != nil {
		panic(err)
	}
	return e
}

// Stamp sets the attributes the producer owns: a fresh id, the source, the
// correlation id, the subject and the time.
func (e *Event) Stamp(source, correlationID, subject string, now time.Time) {
	e.ID = uuid.NewString()
	e.Source = source
	e.CorrelationID = correlationID
	e.Subject = subject
	e.Time = now.UTC()
}

// FollowFrom stamps e as the n-th event produced while handling parent. The id
// is derived from the parent's id, so a redelivered parent produces the same
// ids again and the bus can drop the duplicates.
func (e *Event) FollowFrom(parent Event, source string, n int, now time.Time) {
	e.ID = DeriveID(parent.ID, string(e.Type), n)
	e.Source = source
	e.CorrelationID = parent.CorrelationID
	if e.Subject == "" {
		e.Subject = parent.Subject
	}
	e.Time = now.UTC()
}

var idNamespace = uuid.MustParse("6f1d2a43-8c0e-4d55-9a6b-2f3c1c0e9b71")

// DeriveID returns a stable UUID (version 5) for the n-th event of type t
// caused by the event with id parent.
func DeriveID(parent, t string, n int) string {
	return uuid.NewHash(sha1.New(), idNamespace, fmt.Appendf(nil, "%s|%s|%d", parent, t, n), 5).String()
}

// Encode returns the structured-mode JSON of the event.
func (e Event) Encode() ([]byte, error) { return json.Marshal(e) }

// DecodeData decodes the event's data into v.
func (e Event) DecodeData(v any) error {
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// SchemaURI is the dataschema attribute of events of type t.
func SchemaURI(t Type) string {
	return "https://ctsync.dev/schemas/events/" + string(t) + ".json"
}

// Fresh returns body, a structured-mode event, without ctsync's redelivery
// attributes: a dead letter replayed after a person fixed the cause starts
// with all its attempts and a new replication window. A body that is not a
// JSON object is returned as it is.
func Fresh(body []byte) []byte {
	var attrs map[string]json.RawMessage
	if json.Unmarshal(body, &attrs) != nil || attrs == nil {
		return body
	}
	if _, a := attrs["ctsyncattempts"]; !a {
		if _, w := attrs["ctsyncwaitsince"]; !w {
			return body
		}
	}
	delete(attrs, "ctsyncattempts")
	delete(attrs, "ctsyncwaitsince")
	out, err := json.Marshal(attrs)
	if err != nil {
		return body
	}
	return out
}

// TenantsOf returns the tenants an event parsed by Parse names: the pair
// of an onboarding event, the pair a drift is about, the source tenant of a
// provisioning failure. The allow-list checks every one before a step runs.
func TenantsOf(e Event) []string {
	switch p := e.payload.(type) {
	case Paired:
		o := p.Pair()
		return nonEmpty(o.SourceTenantID, o.TargetTenantID)
	case *Drift:
		return nonEmpty(p.SourceTenantID, p.TargetTenantID)
	case *ProvisioningFailure:
		return nonEmpty(p.SourceTenantID)
	}
	return nil
}

func nonEmpty(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}
