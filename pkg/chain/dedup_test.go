package chain_test

import (
	"context"
	"testing"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/store"
)

// A queue that does not de-duplicate (SQS) delivers a message twice, under
// two transport ids: the second is acknowledged without running the handler
// and without publishing its products again.
func TestADuplicateDeliveryIsAcknowledgedWithoutRunningAgain(t *testing.T) {
	db, err := localdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, _ := bus.NewEmbedded(db)
	kv, _ := store.NewSQLite(db)
	st := store.New(kv)
	calls := 0
	table, _ := chain.NewTable(
		chain.Route{On: events.OnboardingRequested, Step: "first", Handle: func(ctx context.Context, ev events.Event) (outcome.Result, error) {
			calls++
			o, _ := events.OnboardingOf(ev)
			return outcome.Of(events.TargetPartnerEnsured, *o)
		}},
		chain.Route{On: events.TargetPartnerEnsured, Step: "second", Handle: func(context.Context, events.Event) (outcome.Result, error) { return outcome.Result{}, nil }},
	)
	r := &chain.Router{Table: table, Settler: b, Progress: st, Middleware: chain.Stack{Handled: st.WasHandled}.Middleware()}
	out, err := table.Outgoing(example(t, events.OnboardingRequested))
	if err != nil {
		t.Fatal(err)
	}
	for _, transportID := range []string{"sqs-1", "sqs-2"} {
		msg := out[0]
		msg.ID = transportID
		if err := b.Publish(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		ds, err := b.Receive(context.Background(), []string{"first"}, 1, 0)
		if err != nil || len(ds) != 1 {
			t.Fatalf("%v %v", ds, err)
		}
		if err := r.Process(context.Background(), ds[0]); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("the handler ran %d times", calls)
	}
	if d, _ := b.Depth(context.Background()); d.Ready != 1 {
		t.Fatalf("queue depth %+v: the product must be published once", d)
	}
}
