// Package settle lets the router settle messages on hosts that deliver
// them itself (Azure Functions, AWS Lambda). Such a host completes a message
// when the handler succeeds and redelivers it at once otherwise; it can
// neither delay a message nor dead-letter it with a reason. So the router
// settles by publishing: what a step produced, the delayed copy of a message
// to retry, and a dead-letter record all go out through a Publisher, and the
// handler then reports success. Only a failure to publish is reported as a
// failure, and the message comes back.
package settle

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ctsync/ctsync/pkg/bus"
)

// DeadLetterQueue receives what a step gave up on, with the reason.
const DeadLetterQueue = "ctsync-deadletter"

// Publishing is the bus.Settler of a delivering host.
type Publishing struct {
	Out bus.Publisher
	Now func() time.Time
}

var _ bus.Settler = Publishing{}

// Ack implements bus.Settler: the products are sent; the host completes the
// message when the handler reports success.
func (s Publishing) Ack(ctx context.Context, d bus.Delivery, produced ...bus.Outgoing) error {
	return s.Out.Publish(ctx, produced...)
}

// Retry implements bus.Settler: the copy is sent (delayed, carrying its
// attempts in its body); the host completes the original.
func (s Publishing) Retry(ctx context.Context, d bus.Delivery, next bus.Outgoing) error {
	return s.Out.Publish(ctx, next)
}

// DeadLetterRecord is what DeadLetterQueue receives.
type DeadLetterRecord struct {
	Queue         string          `json:"queue"`
	MessageID     string          `json:"messageId"`
	DeliveryCount int             `json:"deliveryCount"`
	Reason        string          `json:"reason"`
	Description   string          `json:"description"`
	At            time.Time       `json:"at"`
	Body          json.RawMessage `json:"body,omitempty"`
	RawBody       string          `json:"rawBody,omitempty"`
}

// DeadLetter implements bus.Settler: the alerts and the dead-letter record
// are sent.
func (s Publishing) DeadLetter(ctx context.Context, d bus.Delivery, reason, description string, produced ...bus.Outgoing) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	rec := DeadLetterRecord{Queue: d.Queue, MessageID: d.ID, DeliveryCount: d.DeliveryCount, Reason: reason, Description: description, At: now().UTC()}
	if json.Valid(d.Body) {
		rec.Body = d.Body
	} else {
		rec.RawBody = string(d.Body)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	out := append(append([]bus.Outgoing(nil), produced...), bus.Outgoing{ID: d.ID + "/dead-letter", Queue: DeadLetterQueue, Body: body})
	return s.Out.Publish(ctx, out...)
}
