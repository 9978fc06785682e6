// Package bus moves events between handlers with peek-lock semantics: a
// delivery is locked while a handler works on it and is settled exactly once,
// by Ack (done, and what it produced is enqueued), Retry (try again later) or
// DeadLetter (give up, with a reason). Embedded is the durable local
// implementation; cloud queues implement the same interface.
package bus

import (
	"context"
	"errors"
	"time"
)

// Outgoing is a message to enqueue. ID is the CloudEvent id: publishing the
// same id to the same queue twice within the de-duplication window enqueues
// it once.
type Outgoing struct {
	ID        string
	Queue     string
	Body      []byte
	NotBefore time.Time
}

// Delivery is a locked message handed to a consumer.
type Delivery struct {
	ID            string
	Queue         string
	Body          []byte
	DeliveryCount int // 1 on the first delivery
	EnqueuedAt    time.Time
	LockToken     string
	LockedUntil   time.Time
}

// DeadLetter is a message a consumer gave up on.
type DeadLetter struct {
	Seq           int64
	ID            string
	Queue         string
	Body          []byte
	DeliveryCount int
	Reason        string
	Description   string
	At            time.Time
}

// Publisher enqueues messages durably before returning.
type Publisher interface {
	Publish(ctx context.Context, msgs ...Outgoing) error
}

// Bus is the queue contract every host relies on.
type Bus interface {
	Publisher
	// Receive locks up to max deliverable messages for lockFor. An empty
	// queues list means every queue. It returns no messages, not an error,
	// when nothing is due.
	Receive(ctx context.Context, queues []string, max int, lockFor time.Duration) ([]Delivery, error)
	// Ack settles d as done after durably enqueueing what handling it
	// produced; a crash never acknowledges d without its successors.
	Ack(ctx context.Context, d Delivery, produced ...Outgoing) error
	// Retry makes d deliverable again after delay.
	Retry(ctx context.Context, d Delivery, delay time.Duration) error
	// DeadLetter moves d to the dead-letter queue with a reason a person can
	// act on, enqueueing produced (e.g. a step.failed alert) with it.
	DeadLetter(ctx context.Context, d Delivery, reason, description string, produced ...Outgoing) error
}

// ErrLockLost means the delivery's lock expired and the message may already
// be with another consumer; the settlement was not applied.
var ErrLockLost = errors.New("message lock lost (expired or settled elsewhere)")

// MaxDeliveryCountExceeded is the dead-letter reason when a message was
// delivered too often without being settled (a consumer crashing on it).
const MaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"
