package chain_test

import (
	"context"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/note"
)

func TestProgressCollectsNotesAndTheRecordersUpdates(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clockNow := func() time.Time { now = now.Add(250 * time.Millisecond); return now }
	h := chain.Progress(recorder{}, clockNow)(func(ctx context.Context, m *chain.Message) (chain.Outcome, error) {
		note.Add(ctx, "created partner configuration for %s", "t")
		note.Add(ctx, "turned inbound automatic redemption on")
		return chain.Outcome{Verdict: chain.Ack}, nil
	})
	o, err := h(context.Background(), message(t, 1))
	if err != nil || o.Note != "created partner configuration for t; turned inbound automatic redemption on" || o.Took != 250*time.Millisecond {
		t.Fatalf("%+v %v", o, err)
	}
	if len(o.Progress) != 1 || o.Progress[0].Step.Name != "first" || o.Progress[0].Step.Detail != o.Note {
		t.Fatalf("progress %+v", o.Progress)
	}
}
