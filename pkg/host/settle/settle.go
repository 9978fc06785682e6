// Package settle lets the chain runner settle messages on hosts that deliver
// them itself (Azure Functions, AWS Lambda). Such a host completes a message
// when the handler succeeds and redelivers it at once otherwise; it can
// neither delay a message nor dead-letter it with a reason. So the runner
// settles by publishing: what a step produced, a delayed copy of a message
// to retry (carrying its attempts so far) and a dead-letter record all go out
// through a Publisher, and the handler then reports success. Only a failure
// to publish is reported as a failure, and the message comes back.
package settle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/bus"
)

const (
	// DeadLetterQueue receives what a step gave up on, with the reason.
	DeadLetterQueue = "ctsync-deadletter"
	// AttemptsAttribute is the CloudEvents extension attribute that carries
	// the deliveries a message had before it was re-sent as a delayed copy.
	AttemptsAttribute = "ctsyncattempts"
)

// Publishing is the bus the runner settles through under a delivering host.
type Publishing struct {
	Out bus.Publisher
	Now func() time.Time
}

var _ bus.Bus = Publishing{}

// Publish implements bus.Bus.
func (s Publishing) Publish(ctx context.Context, msgs ...bus.Outgoing) error {
	return s.Out.Publish(ctx, msgs...)
}

// Receive implements bus.Bus; the host does the receiving.
func (s Publishing) Receive(context.Context, []string, int, time.Duration) ([]bus.Delivery, error) {
	return nil, errors.New("the host delivers messages")
}

// Ack implements bus.Bus: the products are sent; the host completes the
// message when the handler reports success.
func (s Publishing) Ack(ctx context.Context, d bus.Delivery, produced ...bus.Outgoing) error {
	return s.Out.Publish(ctx, produced...)
}

// Retry implements bus.Bus with a delayed copy that carries the attempts.
// Its id is derived from the original's, so a copy published twice is one
// message wherever the queue de-duplicates.
func (s Publishing) Retry(ctx context.Context, d bus.Delivery, delay time.Duration) error {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(d.Body, &attrs); err != nil {
		return fmt.Errorf("retry a message that is not JSON: %w", err)
	}
	attrs[AttemptsAttribute] = json.RawMessage(strconv.Itoa(d.DeliveryCount))
	body, err := json.Marshal(attrs)
	if err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return s.Out.Publish(ctx, bus.Outgoing{ID: fmt.Sprintf("%s/retry-%d", strings.SplitN(d.ID, "/retry-", 2)[0], d.DeliveryCount),
		Queue: d.Queue, Body: body, NotBefore: now().Add(delay)})
}

// AttemptsIn reads the attempts a delayed copy carries (0 for an original).
func AttemptsIn(body []byte) int {
	var attrs struct {
		Attempts int `json:"ctsyncattempts"`
	}
	_ = json.Unmarshal(body, &attrs)
	return max(attrs.Attempts, 0)
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

// DeadLetter implements bus.Bus: the alert and the dead-letter record are sent.
func (s Publishing) DeadLetter(ctx context.Context, d bus.Delivery, reason, description string, produced ...bus.Outgoing) error {
	rec := DeadLetterRecord{Queue: d.Queue, MessageID: d.ID, DeliveryCount: d.DeliveryCount, Reason: reason, Description: description, At: time.Now().UTC()}
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
