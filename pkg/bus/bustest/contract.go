// Package bustest holds the behaviour every bus.Bus must show, as a test
// suite any implementation runs against itself.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/bus"
)

// Options adapt the contract to a queue's fixed settings.
type Options struct {
	// LockExpiry is how long to wait for an unsettled message to come back.
	// Service Bus queues set their lock duration themselves (at least 5 s);
	// the embedded queue takes the lock the consumer asks for (300 ms here).
	LockExpiry time.Duration
}

// Contract is what every Bus implementation must do. It runs against the
// embedded queue always, and against cloud queues when their connection
// settings are present. newQueue returns a bus and a queue name that is
// empty when the test starts.
func Contract(t *testing.T, newQueue func(t *testing.T) (bus.Bus, string), opts Options) {
	if opts.LockExpiry == 0 {
		opts.LockExpiry = 300 * time.Millisecond
	}
	ctx := context.Background()
	uniq := func(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }
	recv := func(t *testing.T, b bus.Bus, q string, lock time.Duration, wait time.Duration) []bus.Delivery {
		t.Helper()
		deadline := time.Now().Add(wait)
		for {
			ds, err := b.Receive(ctx, []string{q}, 10, lock)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) > 0 || time.Now().After(deadline) {
				return ds
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("ack removes the message and enqueues what it produced", func(t *testing.T) {
		b, q := newQueue(t)
		id := uniq("m")
		if err := b.Publish(ctx, bus.Outgoing{ID: id, Queue: q, Body: []byte(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
		ds := recv(t, b, q, 5*time.Second, 5*time.Second)
		if len(ds) != 1 || ds[0].ID != id || string(ds[0].Body) != `{"n":1}` || ds[0].DeliveryCount != 1 {
			t.Fatalf("got %+v", ds)
		}
		next := uniq("next")
		if err := b.Ack(ctx, ds[0], bus.Outgoing{ID: next, Queue: q, Body: []byte(`{"n":2}`)}); err != nil {
			t.Fatal(err)
		}
		ds = recv(t, b, q, 5*time.Second, 5*time.Second)
		if len(ds) != 1 || ds[0].ID != next {
			t.Fatalf("after ack want only the produced message, got %+v", ds)
		}
		if err := b.Ack(ctx, ds[0]); err != nil {
			t.Fatal(err)
		}
		if ds := recv(t, b, q, time.Second, 300*time.Millisecond); len(ds) != 0 {
			t.Fatalf("queue should be empty, got %+v", ds)
		}
	})

	t.Run("an expired lock redelivers with a higher delivery count", func(t *testing.T) {
		b, q := newQueue(t)
		id := uniq("m")
		if err := b.Publish(ctx, bus.Outgoing{ID: id, Queue: q, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		first := recv(t, b, q, opts.LockExpiry, 5*time.Second)
		if len(first) != 1 {
			t.Fatalf("got %+v", first)
		}
		// A consumer that "crashed" never settles; the message comes back.
		second := recv(t, b, q, 5*time.Second, opts.LockExpiry+10*time.Second)
		if len(second) != 1 || second[0].ID != id || second[0].DeliveryCount != 2 {
			t.Fatalf("want redelivery with count 2, got %+v", second)
		}
		if err := b.Ack(ctx, first[0]); !errors.Is(err, bus.ErrLockLost) {
			t.Fatalf("settling with a superseded lock must fail with ErrLockLost, got %v", err)
		}
		if err := b.Ack(ctx, second[0]); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("retry replaces the message with a delayed copy", func(t *testing.T) {
		b, q := newQueue(t)
		id := uniq("m")
		if err := b.Publish(ctx, bus.Outgoing{ID: id, Queue: q, Body: []byte(`{"attempts":0}`)}); err != nil {
			t.Fatal(err)
		}
		ds := recv(t, b, q, 5*time.Second, 5*time.Second)
		next := bus.Outgoing{ID: id + "-copy", Queue: q, Body: []byte(`{"attempts":1}`), NotBefore: time.Now().Add(700 * time.Millisecond)}
		if err := b.Retry(ctx, ds[0], next); err != nil {
			t.Fatal(err)
		}
		if early := recv(t, b, q, 5*time.Second, 200*time.Millisecond); len(early) != 0 {
			t.Fatalf("delivered before the delay: %+v", early)
		}
		again := recv(t, b, q, 5*time.Second, 5*time.Second)
		if len(again) != 1 {
			t.Fatal("not redelivered after the delay")
		}
		// The copy carries the new body, and its deliveries count afresh.
		if string(again[0].Body) != `{"attempts":1}` || again[0].DeliveryCount != 1 {
			t.Fatalf("redelivered %+v", again[0])
		}
		if err := b.Ack(ctx, again[0]); err != nil {
			t.Fatal(err)
		}
		if ds := recv(t, b, q, time.Second, 300*time.Millisecond); len(ds) != 0 {
			t.Fatalf("the original came back beside its copy: %+v", ds)
		}
	})

	t.Run("a scheduled message waits for its time", func(t *testing.T) {
		b, q := newQueue(t)
		if err := b.Publish(ctx, bus.Outgoing{ID: uniq("m"), Queue: q, Body: []byte(`{}`), NotBefore: time.Now().Add(700 * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
		if early := recv(t, b, q, 5*time.Second, 200*time.Millisecond); len(early) != 0 {
			t.Fatalf("delivered early: %+v", early)
		}
		if ds := recv(t, b, q, 5*time.Second, 5*time.Second); len(ds) != 1 {
			t.Fatal("scheduled message never delivered")
		} else if err := b.Ack(ctx, ds[0]); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("dead letter keeps the reason and publishes the alert", func(t *testing.T) {
		b, q := newQueue(t)
		if err := b.Publish(ctx, bus.Outgoing{ID: uniq("m"), Queue: q, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		ds := recv(t, b, q, 5*time.Second, 5*time.Second)
		alert := uniq("alert")
		if err := b.DeadLetter(ctx, ds[0], "Authorization_RequestDenied", "grant Policy.ReadWrite.CrossTenantAccess", bus.Outgoing{ID: alert, Queue: q, Body: []byte(`{"alert":true}`)}); err != nil {
			t.Fatal(err)
		}
		got := recv(t, b, q, 5*time.Second, 5*time.Second)
		if len(got) != 1 || got[0].ID != alert {
			t.Fatalf("want only the alert on the queue, got %+v", got)
		}
		if err := b.Ack(ctx, got[0]); err != nil {
			t.Fatal(err)
		}
	})
}
