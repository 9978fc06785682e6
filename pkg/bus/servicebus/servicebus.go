// Package servicebus implements bus.Bus on Azure Service Bus queues, one
// queue per step, as the Azure deployment uses them (infra/).
//
// Service Bus differs from the embedded queue in three ways this adapter
// bridges:
//   - a lock lasts as long as the queue says (LockDuration), not as long as
//     the consumer asks;
//   - abandoning a message redelivers it at once: a retry is a scheduled
//     copy (its body carries the attempts so far, see package bus), and the
//     original is completed;
//   - publishing and completing are two operations: Ack publishes first, so a
//     crash in between redelivers the message and re-publishes the same
//     event ids, which the queue's duplicate detection drops (the queues must
//     be created with requiresDuplicateDetection).
package servicebus

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/ctsync/ctsync/pkg/bus"
)

// ContentType marks structured-mode CloudEvents.
const ContentType = "application/cloudevents+json; charset=utf-8"

// Queue is a Service Bus-backed bus.
type Queue struct {
	client *azservicebus.Client
	queues []string
	// ReceiveWait bounds how long Receive waits for a message per queue
	// before it reports that none is due.
	ReceiveWait time.Duration

	mu        sync.Mutex
	senders   map[string]*azservicebus.Sender
	receivers map[string]*azservicebus.Receiver
	inflight  map[string]inflight
}

type inflight struct {
	msg      *azservicebus.ReceivedMessage
	receiver *azservicebus.Receiver
}

var _ bus.Bus = (*Queue)(nil)

// New uses client for the given queues (Receive with no queue names reads them all).
func New(client *azservicebus.Client, queues []string) *Queue {
	return &Queue{client: client, queues: queues, ReceiveWait: time.Second,
		senders: map[string]*azservicebus.Sender{}, receivers: map[string]*azservicebus.Receiver{}, inflight: map[string]inflight{}}
}

// Connect opens a client from a connection string, or from a namespace
// (<name>.servicebus.windows.net) with a credential such as a managed identity.
func Connect(connectionStringOrNamespace string, cred azcore.TokenCredential, queues []string) (*Queue, error) {
	var client *azservicebus.Client
	var err error
	if cred == nil {
		client, err = azservicebus.NewClientFromConnectionString(connectionStringOrNamespace, nil)
	} else {
		client, err = azservicebus.NewClient(connectionStringOrNamespace, cred, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("service bus: %w", err)
	}
	return New(client, queues), nil
}

func (q *Queue) sender(queue string) (*azservicebus.Sender, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if s, ok := q.senders[queue]; ok {
		return s, nil
	}
	s, err := q.client.NewSender(queue, nil)
	if err != nil {
		return nil, err
	}
	q.senders[queue] = s
	return s, nil
}

func (q *Queue) receiver(queue string) (*azservicebus.Receiver, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r, ok := q.receivers[queue]; ok {
		return r, nil
	}
	r, err := q.client.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModePeekLock})
	if err != nil {
		return nil, err
	}
	q.receivers[queue] = r
	return r, nil
}

func message(m bus.Outgoing) *azservicebus.Message {
	id, ct := m.ID, ContentType
	msg := &azservicebus.Message{MessageID: &id, Body: m.Body, ContentType: &ct}
	if !m.NotBefore.IsZero() && m.NotBefore.After(time.Now()) {
		at := m.NotBefore.UTC()
		msg.ScheduledEnqueueTime = &at
	}
	return msg
}

// Publish implements bus.Bus.
func (q *Queue) Publish(ctx context.Context, msgs ...bus.Outgoing) error {
	for _, m := range msgs {
		s, err := q.sender(m.Queue)
		if err != nil {
			return err
		}
		if err := s.SendMessage(ctx, message(m), nil); err != nil {
			return fmt.Errorf("send %s to %s: %w", m.ID, m.Queue, err)
		}
	}
	return nil
}

// Receive implements bus.Bus. lockFor is not used: the queue's
// LockDuration applies.
func (q *Queue) Receive(ctx context.Context, queues []string, max int, _ time.Duration) ([]bus.Delivery, error) {
	if len(queues) == 0 {
		queues = q.queues
	}
	var out []bus.Delivery
	for _, name := range queues {
		if len(out) >= max {
			break
		}
		r, err := q.receiver(name)
		if err != nil {
			return out, err
		}
		wait, cancel := context.WithTimeout(ctx, q.ReceiveWait)
		msgs, err := r.ReceiveMessages(wait, max-len(out), nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return out, fmt.Errorf("receive from %s: %w", name, err)
		}
		for _, m := range msgs {
			out = append(out, q.track(name, r, m))
		}
	}
	return out, nil
}

func (q *Queue) track(queue string, r *azservicebus.Receiver, m *azservicebus.ReceivedMessage) bus.Delivery {
	token := hex.EncodeToString(m.LockToken[:])
	d := bus.Delivery{ID: m.MessageID, Queue: queue, Body: m.Body, DeliveryCount: int(m.DeliveryCount), LockToken: token}
	if m.EnqueuedTime != nil {
		d.EnqueuedAt = *m.EnqueuedTime
	}
	if m.LockedUntil != nil {
		d.LockedUntil = *m.LockedUntil
	}
	q.mu.Lock()
	q.inflight[token] = inflight{msg: m, receiver: r}
	q.mu.Unlock()
	return d
}

// settle runs fn on d's received message and forgets it.
func (q *Queue) settle(d bus.Delivery, fn func(in inflight) error) error {
	q.mu.Lock()
	in, ok := q.inflight[d.LockToken]
	q.mu.Unlock()
	if !ok {
		return bus.ErrLockLost
	}
	err := fn(in)
	var sbErr *azservicebus.Error
	if errors.As(err, &sbErr) && sbErr.Code == azservicebus.CodeLockLost {
		err = fmt.Errorf("%w: %v", bus.ErrLockLost, err)
	}
	if err == nil || errors.Is(err, bus.ErrLockLost) {
		q.mu.Lock()
		delete(q.inflight, d.LockToken)
		q.mu.Unlock()
	}
	return err
}

// Ack implements bus.Bus: publish, then complete.
func (q *Queue) Ack(ctx context.Context, d bus.Delivery, produced ...bus.Outgoing) error {
	if err := q.Publish(ctx, produced...); err != nil {
		return err
	}
	return q.settle(d, func(in inflight) error { return in.receiver.CompleteMessage(ctx, in.msg, nil) })
}

// Retry implements bus.Bus. Service Bus can only redeliver at once, and
// only the same body: the copy is scheduled, then the original completed. A
// crash in between sends the copy again under the same id, which duplicate
// detection drops.
func (q *Queue) Retry(ctx context.Context, d bus.Delivery, next bus.Outgoing) error {
	if err := q.Publish(ctx, next); err != nil {
		return fmt.Errorf("schedule retry of %s: %w", d.ID, err)
	}
	return q.settle(d, func(in inflight) error { return in.receiver.CompleteMessage(ctx, in.msg, nil) })
}

// DeadLetter implements bus.Bus, using the queue's own dead-letter queue.
func (q *Queue) DeadLetter(ctx context.Context, d bus.Delivery, reason, description string, produced ...bus.Outgoing) error {
	if err := q.Publish(ctx, produced...); err != nil {
		return err
	}
	// Service Bus limits both properties to 4 KiB.
	reason, description = clip(reason, 1024), clip(description, 4000)
	return q.settle(d, func(in inflight) error {
		return in.receiver.DeadLetterMessage(ctx, in.msg, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &description})
	})
}

// Close releases the links.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.senders {
		_ = s.Close(ctx)
	}
	for _, r := range q.receivers {
		_ = r.Close(ctx)
	}
	return q.client.Close(ctx)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
