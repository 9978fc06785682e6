package store

import (
	"context"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/localdb"
)

// openTwice opens one state directory from two handles, as two processes
// (serve and a CLI command, or two workers) would.
func openTwice(t *testing.T) (*Embedded, *Embedded) {
	t.Helper()
	dir := t.TempDir()
	var out [2]*Embedded
	for i := range out {
		db, err := localdb.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if out[i], err = NewEmbedded(db); err != nil {
			t.Fatal(err)
		}
	}
	return out[0], out[1]
}

func TestAnIntentIsClaimedByOneHolderOnly(t *testing.T) {
	ctx := context.Background()
	a, b := openTwice(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	key := "configuration-app/src/tgt"

	in, claimed, err := a.ClaimIntent(ctx, key, now)
	if err != nil || !claimed || in.State != IntentPending || !in.StartedAt.Equal(now) {
		t.Fatalf("first claim: %+v %v %v", in, claimed, err)
	}
	in, claimed, err = b.ClaimIntent(ctx, key, now.Add(time.Second))
	if err != nil || claimed || in.State != IntentPending || !in.StartedAt.Equal(now) {
		t.Fatalf("a second claim must see the first, not take it: %+v %v %v", in, claimed, err)
	}
	if err := a.CompleteIntent(ctx, key, "SP-1", now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	in, held, err := b.Intent(ctx, key)
	if err != nil || !held || in.State != IntentDone || in.ObjectID != "SP-1" || !in.UpdatedAt.Equal(now.Add(2*time.Second)) {
		t.Fatalf("the other process reads %+v %v %v", in, held, err)
	}
	if keys, err := b.IntentKeysFor(ctx, "sp-1"); err != nil || len(keys) != 1 || keys[0] != key {
		t.Fatalf("intents for the object, any case: %v %v", keys, err)
	}
	if err := b.ReleaseIntent(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := a.ClaimIntent(ctx, key, now); err != nil || !claimed {
		t.Fatalf("a released intent can be claimed again: %v %v", claimed, err)
	}
}

func TestAPageCommitAdvancesOnlyForwardAndForgetsOldIds(t *testing.T) {
	ctx := context.Background()
	s, other := openTwice(t)
	cfg := Configuration{SourceTenantID: "src", ServicePrincipalID: "sp"}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC)
	commit := func(wm time.Time, ids ...string) {
		t.Helper()
		var seen []SeenRecord
		for i, id := range ids {
			seen = append(seen, SeenRecord{ID: id, Activity: wm.Add(-time.Duration(len(ids)-1-i) * time.Minute)})
		}
		if err := s.CommitPage(ctx, PageCommit{Config: cfg, Watermark: wm, Seen: seen, Records: len(ids),
			ForgetBefore: wm.Add(-30 * time.Minute), SinkPositions: map[string]int64{"file": int64(len(ids))}}); err != nil {
			t.Fatal(err)
		}
	}
	commit(t0, "a", "b")
	commit(t0.Add(time.Hour), "c")
	commit(t0.Add(10*time.Minute), "d") // an overlap page older than the watermark

	cp, ok, err := other.GetCheckpoint(ctx, cfg.Key())
	if err != nil || !ok || !cp.Watermark.Equal(t0.Add(time.Hour)) || cp.Records != 4 || cp.Pages != 3 {
		t.Fatalf("checkpoint %+v %v %v: the watermark keeps its maximum, to the microsecond", cp, ok, err)
	}
	seen, err := other.SeenAmong(ctx, cfg.Key(), []string{"a", "b", "c", "d", "e"})
	if err != nil || seen["a"] || seen["b"] || !seen["c"] || !seen["d"] || seen["e"] {
		t.Fatalf("seen %v %v: ids before the overlap window are forgotten, newer ones kept", seen, err)
	}
	if pos, ok, err := other.SinkPosition(ctx, "file"); err != nil || !ok || pos != 1 {
		t.Fatalf("sink position %d %v %v", pos, ok, err)
	}
}

func TestALeaseHasOneHolderUntilItExpires(t *testing.T) {
	ctx := context.Background()
	a, b := openTwice(t)
	if holder, ok, err := a.AcquireLease(ctx, "harvest", "serve-1", time.Hour); err != nil || !ok || holder != "serve-1" {
		t.Fatalf("%s %v %v", holder, ok, err)
	}
	if holder, ok, err := b.AcquireLease(ctx, "harvest", "cli-2", time.Hour); err != nil || ok || holder != "serve-1" {
		t.Fatalf("a held lease must be refused, naming its holder: %s %v %v", holder, ok, err)
	}
	if err := b.ReleaseLease(ctx, "harvest", "cli-2"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.AcquireLease(ctx, "harvest", "cli-2", time.Hour); ok {
		t.Fatal("releasing someone else's lease must not free it")
	}
	if _, ok, err := a.AcquireLease(ctx, "harvest", "serve-1", -time.Second); err != nil || !ok {
		t.Fatalf("the holder renews: %v %v", ok, err)
	}
	if holder, ok, err := b.AcquireLease(ctx, "harvest", "cli-2", time.Hour); err != nil || !ok || holder != "cli-2" {
		t.Fatalf("an expired lease is taken over: %s %v %v", holder, ok, err)
	}
}
