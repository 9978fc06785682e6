package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/localdb"
)

func newEmbeddedForTest(t *testing.T) *Embedded {
	t.Helper()
	db, err := localdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := NewEmbedded(db)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeClock lets tests move the queue's time without sleeping.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestEmbeddedDropsARepublishedMessageID(t *testing.T) {
	ctx := context.Background()
	b := newEmbeddedForTest(t)
	m := Outgoing{ID: "e1", Queue: "q", Body: []byte("a")}
	for i := 0; i < 3; i++ {
		if err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := b.Receive(ctx, nil, 10, time.Minute)
	if err != nil || len(ds) != 1 {
		t.Fatalf("want one delivery, got %d (%v)", len(ds), err)
	}
	if err := b.Ack(ctx, ds[0]); err != nil {
		t.Fatal(err)
	}
	// A redelivered parent re-producing the same id after settlement is dropped too.
	if err := b.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	if ds, _ := b.Receive(ctx, nil, 10, time.Minute); len(ds) != 0 {
		t.Fatalf("settled id was enqueued again: %+v", ds)
	}
}

func TestEmbeddedDeadLettersAfterMaxDeliveryCount(t *testing.T) {
	ctx := context.Background()
	b := newEmbeddedForTest(t)
	clock := &fakeClock{t: time.Now()}
	b.now = clock.now
	b.MaxDeliveryCount = 3
	if err := b.Publish(ctx, Outgoing{ID: "poison", Queue: "q", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		ds, err := b.Receive(ctx, nil, 1, time.Second)
		if err != nil || len(ds) != 1 || ds[0].DeliveryCount != i {
			t.Fatalf("delivery %d: %+v %v", i, ds, err)
		}
		clock.advance(2 * time.Second) // the consumer crashed; its lock expires
	}
	if ds, _ := b.Receive(ctx, nil, 1, time.Second); len(ds) != 0 {
		t.Fatalf("delivered a fourth time: %+v", ds)
	}
	dls, err := b.DeadLetters(ctx)
	if err != nil || len(dls) != 1 || dls[0].Reason != MaxDeliveryCountExceeded || !strings.Contains(dls[0].Description, "3 times") {
		t.Fatalf("dead letters: %+v %v", dls, err)
	}
	if err := b.Resubmit(ctx, dls[0].Seq, []byte(`{"fresh":true}`)); err != nil {
		t.Fatal(err)
	}
	ds, _ := b.Receive(ctx, nil, 1, time.Second)
	if len(ds) != 1 || ds[0].DeliveryCount != 1 || string(ds[0].Body) != `{"fresh":true}` {
		t.Fatalf("resubmitted message should start over with its fresh body: %+v", ds)
	}
}

func TestEmbeddedSurvivesReopening(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := localdb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewEmbedded(db)
	if err := b.Publish(ctx, Outgoing{ID: "durable", Queue: "q", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	ds, _ := b.Receive(ctx, nil, 1, 50*time.Millisecond)
	if len(ds) != 1 {
		t.Fatal("not received")
	}
	db.Close() // crash while holding the lock

	db2, err := localdb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	b2, _ := NewEmbedded(db2)
	time.Sleep(100 * time.Millisecond)
	ds, err = b2.Receive(ctx, nil, 1, time.Minute)
	if err != nil || len(ds) != 1 || ds[0].ID != "durable" || ds[0].DeliveryCount != 2 {
		t.Fatalf("after reopening: %+v %v", ds, err)
	}
}

func TestEmbeddedAckWithLostLockPublishesNothing(t *testing.T) {
	ctx := context.Background()
	b := newEmbeddedForTest(t)
	clock := &fakeClock{t: time.Now()}
	b.now = clock.now
	_ = b.Publish(ctx, Outgoing{ID: "m", Queue: "q", Body: []byte("x")})
	first, _ := b.Receive(ctx, nil, 1, time.Second)
	clock.advance(2 * time.Second)
	second, _ := b.Receive(ctx, nil, 1, time.Second)
	if len(first) != 1 || len(second) != 1 {
		t.Fatal("setup")
	}
	if err := b.Ack(ctx, first[0], Outgoing{ID: "child", Queue: "q", Body: []byte("y")}); err == nil {
		t.Fatal("stale ack accepted")
	}
	d, _ := b.Depth(ctx)
	if d.Ready+d.Scheduled+d.Locked != 1 {
		t.Fatalf("a failed ack must not enqueue its products: %+v", d)
	}
}

// Locks are short and renewed while the handler works: a renewed message
// stays with its consumer past the first lock; once renewals stop (the
// consumer died), another takes it after one lock period, and the old
// consumer's renewal is refused.
func TestEmbeddedRenewedLocksHoldAndLapsedOnesMoveOn(t *testing.T) {
	ctx := context.Background()
	b := newEmbeddedForTest(t)
	clock := &fakeClock{t: time.Now()}
	b.now = clock.now
	_ = b.Publish(ctx, Outgoing{ID: "m", Queue: "q", Body: []byte("x")})
	first, _ := b.Receive(ctx, nil, 1, 3*time.Second)
	if len(first) != 1 {
		t.Fatal("setup")
	}
	for range 5 {
		clock.advance(time.Second)
		if _, err := b.RenewLock(ctx, first[0], 3*time.Second); err != nil {
			t.Fatalf("renewal: %v", err)
		}
		if ds, _ := b.Receive(ctx, nil, 1, 3*time.Second); len(ds) != 0 {
			t.Fatal("another consumer received a message whose lock was renewed")
		}
	}
	clock.advance(3 * time.Second) // the consumer stopped renewing
	second, _ := b.Receive(ctx, nil, 1, 3*time.Second)
	if len(second) != 1 || second[0].DeliveryCount != 2 {
		t.Fatalf("after one lock period the message moves on: %+v", second)
	}
	if _, err := b.RenewLock(ctx, first[0], 3*time.Second); !errors.Is(err, ErrLockLost) {
		t.Fatalf("the first consumer's renewal after the takeover: %v", err)
	}
	if err := b.Ack(ctx, second[0]); err != nil {
		t.Fatal(err)
	}
}
