// Package bus moves events between handlers with peek-lock semantics: a
// delivery is locked while a handler works on it and is settled exactly once,
// by Ack (done, and what it produced is enqueued), Retry (replaced by a copy
// delivered later) or DeadLetter (give up, with a reason).
//
// The interfaces are as narrow as their users: the router needs a Settler
// and a Publisher; only the local host receives (Receiver). Embedded is the
// durable local implementation of all three; Service Bus implements them for
// its contract test; the cloud hosts, whose platform delivers and completes
// messages, settle by publishing (package settle).
//
// A retry is always a copy with a new body: the router writes the attempts
// so far and since when a step has been waiting into the CloudEvent itself
// (events.Event.Attempts, WaitingSince), so every transport carries them
// alike and DeliveryCount only counts the deliveries of one copy.
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

// Settler settles deliveries. Each method settles d exactly once; after a
// crash before the settlement, d is delivered again.
type Settler interface {
	// Ack settles d as done after durably enqueueing what handling it
	// produced; a crash never acknowledges d without its successors.
	Ack(ctx context.Context, d Delivery, produced ...Outgoing) error
	// Retry settles d and enqueues next in its place: the same message with
	// the body the router rewrote, deliverable at next.NotBefore. next.ID is
	// derived from d.ID, so a retry repeated after a crash is one copy
	// wherever the queue de-duplicates.
	Retry(ctx context.Context, d Delivery, next Outgoing) error
	// DeadLetter moves d to the dead-letter queue with a reason a person can
	// act on, enqueueing produced (e.g. a step.failed alert) with it.
	DeadLetter(ctx context.Context, d Delivery, reason, description string, produced ...Outgoing) error
}

// Receiver hands out deliveries.
type Receiver interface {
	// Receive locks up to max deliverable messages for lockFor. An empty
	// queues list means every queue. It returns no messages, not an error,
	// when nothing is due.
	Receive(ctx context.Context, queues []string, max int, lockFor time.Duration) ([]Delivery, error)
}

// Bus is a queue that delivers itself: the local host's, and what the
// contract suite (bustest) checks.
type Bus interface {
	Publisher
	Receiver
	Settler
}

// ErrLockLost means the delivery's lock expired and the message may already
// be with another consumer; the settlement was not applied.
var ErrLockLost = errors.New("message lock lost (expired or settled elsewhere)")

// MaxDeliveryCountExceeded is the dead-letter reason when a message was
// delivered too often without being settled (a consumer crashing on it).
const MaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"
