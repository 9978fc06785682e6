// Package storetest holds the behaviour every store backend must show, as
// a test suite each backend runs against itself: SQLite always, Azure Table
// Storage on Azurite and DynamoDB on moto when their emulators are present
// (and always under CI). It checks the KV's single-item compare-and-swap and,
// on top of it, everything ctsync remembers — with concurrent writers, the
// way several host processes share one store.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/store"
)

// Backend opens a fresh, empty store and returns a function that hands out
// handles to it: each call is another client of the same data, as another
// process would be.
type Backend func(t *testing.T) (handle func() store.KV)

// Contract runs the whole suite.
func Contract(t *testing.T, backend Backend) {
	t.Run("kv", func(t *testing.T) { KV(t, backend) })
	t.Run("intents", func(t *testing.T) { Intents(t, backend) })
	t.Run("checkpoints", func(t *testing.T) { Checkpoints(t, backend) })
	t.Run("leases", func(t *testing.T) { Leases(t, backend) })
	t.Run("progress", func(t *testing.T) { Progress(t, backend) })
	t.Run("pairs", func(t *testing.T) { Pairs(t, backend) })
	t.Run("intake claims", func(t *testing.T) { IntakeClaims(t, backend) })
}

var ctx = context.Background()

// KV checks the single-item operations.
func KV(t *testing.T, backend Backend) {
	kv := backend(t)()
	other := backend(t)() // a different, fresh store: nothing leaks between stores
	if _, err := kv.Get(ctx, "p", "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing item: %v", err)
	}
	first, err := kv.Put(ctx, store.Item{PK: "p", SK: "a", Value: []byte("1")}, store.Condition{IfAbsent: true})
	if err != nil || first.Version == "" {
		t.Fatalf("first put: %+v %v", first, err)
	}
	if _, err := kv.Put(ctx, store.Item{PK: "p", SK: "a", Value: []byte("2")}, store.Condition{IfAbsent: true}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second put-if-absent must conflict: %v", err)
	}
	second, err := kv.Put(ctx, store.Item{PK: "p", SK: "a", Value: []byte("2")}, store.Condition{IfVersion: first.Version})
	if err != nil || second.Version == first.Version {
		t.Fatalf("put on the current version: %+v %v", second, err)
	}
	if _, err := kv.Put(ctx, store.Item{PK: "p", SK: "a", Value: []byte("3")}, store.Condition{IfVersion: first.Version}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put on a stale version must conflict: %v", err)
	}
	if _, err := kv.Put(ctx, store.Item{PK: "p", SK: "zz", Value: []byte("x")}, store.Condition{IfVersion: first.Version}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put on a version of a missing item must conflict: %v", err)
	}
	got, err := kv.Get(ctx, "p", "a")
	if err != nil || string(got.Value) != "2" || got.Version != second.Version {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := other.Get(ctx, "p", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a fresh store sees another's items: %v", err)
	}

	// Keys hold what the ids and keys ctsync stores hold: slashes, colons,
	// GUIDs, Graph's record ids, and characters some services reserve.
	odd := []string{"configuration-app/0b7f3c2e/9e2d6a1b", "seen:0b7f/sp", "Azure2Azure_cd0dd71b-c733_3", "a#b?c\\d%e f", "ünïcode"}
	expires := time.Date(2026, 12, 1, 8, 0, 0, 123456000, time.UTC)
	for i, sk := range odd {
		if _, err := kv.Put(ctx, store.Item{PK: "odd/" + sk, SK: sk, Value: []byte(fmt.Sprint(i)), Expires: expires}, store.Condition{}); err != nil {
			t.Fatalf("put %q: %v", sk, err)
		}
		it, err := kv.Get(ctx, "odd/"+sk, sk)
		if err != nil || it.SK != sk || it.PK != "odd/"+sk || string(it.Value) != fmt.Sprint(i) || !it.Expires.Equal(expires) {
			t.Fatalf("round trip of %q: %+v %v", sk, it, err)
		}
	}

	// Values as large as a pair record with a thousand users and groups.
	big := bytes.Repeat([]byte(`"61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10",`), 5000)
	if _, err := kv.Put(ctx, store.Item{PK: "big", SK: "one", Value: big}, store.Condition{}); err != nil {
		t.Fatalf("a %d-byte value: %v", len(big), err)
	}
	if it, err := kv.Get(ctx, "big", "one"); err != nil || !bytes.Equal(it.Value, big) {
		t.Fatalf("a %d-byte value did not come back whole (%d bytes): %v", len(big), len(it.Value), err)
	}

	// Query by prefix, in sort-key order; GetMany; PutMany.
	var many []store.Item
	for _, sk := range []string{"step:b", "step:a", "other", "step:c"} {
		many = append(many, store.Item{PK: "q", SK: sk, Value: []byte(sk)})
	}
	if err := kv.PutMany(ctx, many); err != nil {
		t.Fatal(err)
	}
	items, err := kv.Query(ctx, "q", "step:")
	if err != nil || len(items) != 3 || items[0].SK != "step:a" || items[2].SK != "step:c" {
		t.Fatalf("query: %+v %v", items, err)
	}
	if all, err := kv.Query(ctx, "q", ""); err != nil || len(all) != 4 {
		t.Fatalf("query of the whole partition: %d %v", len(all), err)
	}
	found, err := kv.GetMany(ctx, "q", []string{"step:a", "missing", "other"})
	if err != nil || len(found) != 2 || string(found["other"].Value) != "other" {
		t.Fatalf("get many: %+v %v", found, err)
	}

	// Deletes.
	if err := kv.Delete(ctx, "p", "a", store.Condition{IfVersion: first.Version}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete on a stale version must conflict: %v", err)
	}
	if err := kv.Delete(ctx, "p", "a", store.Condition{IfVersion: second.Version}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "p", "a", store.Condition{}); err != nil {
		t.Fatalf("deleting a missing item: %v", err)
	}
	if _, err := kv.Get(ctx, "p", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted item still there: %v", err)
	}
}

// Intents checks create-once intents, claimed by one of many.
func Intents(t *testing.T, backend Backend) {
	handle := backend(t)
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	key := "configuration-app/0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11/9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55"

	claims := race(t, handle, 8, func(s *store.Store, i int) (bool, error) {
		_, claimed, err := s.ClaimIntent(ctx, key, now.Add(time.Duration(i)*time.Second))
		return claimed, err
	})
	if claims != 1 {
		t.Fatalf("%d of 8 concurrent claimers got the intent; want exactly one", claims)
	}
	a, b := store.New(handle()), store.New(handle())
	in, held, err := b.Intent(ctx, key)
	if err != nil || !held || in.State != store.IntentPending {
		t.Fatalf("the other process reads %+v %v %v", in, held, err)
	}
	if err := a.CompleteIntent(ctx, key, "5D3A-SP-1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	done, held, err := b.Intent(ctx, key)
	if err != nil || !held || done.State != store.IntentDone || done.ObjectID != "5D3A-SP-1" || !done.StartedAt.Equal(in.StartedAt) ||
		!done.UpdatedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("completed intent %+v %v %v", done, held, err)
	}
	if keys, err := b.IntentKeysFor(ctx, "5d3a-sp-1"); err != nil || len(keys) != 1 || keys[0] != key {
		t.Fatalf("intents that created the object, in any case: %v %v", keys, err)
	}

	// A stale intent is taken over by one of many, and only from the
	// version they all read.
	takeovers := race(t, handle, 8, func(s *store.Store, i int) (bool, error) {
		_, took, err := s.TakeOverIntent(ctx, done, now.Add(time.Hour))
		return took, err
	})
	if takeovers != 1 {
		t.Fatalf("%d of 8 concurrent takers took the stale intent over; want exactly one", takeovers)
	}
	if _, took, err := a.TakeOverIntent(ctx, done, now.Add(time.Hour)); took || err != nil {
		t.Fatalf("a takeover from a version already replaced: %v %v", took, err)
	}
	if err := b.ReleaseIntent(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := a.ClaimIntent(ctx, key, now); err != nil || !claimed {
		t.Fatalf("a released intent is claimed again: %v %v", claimed, err)
	}
}

// Checkpoints checks the harvester's checkpoints and seen ids.
func Checkpoints(t *testing.T, backend Backend) {
	handle := backend(t)
	s, other := store.New(handle()), store.New(handle())
	cfg := store.Configuration{SourceTenantID: "0B7F3C2E-5A4D-4E61-9C1A-7D2E8F901A11", ServicePrincipalID: "sp-1"}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC)
	commit := func(wm time.Time, ids ...string) store.Checkpoint {
		t.Helper()
		prev, _, err := s.GetCheckpoint(ctx, cfg.Key())
		if err != nil {
			t.Fatal(err)
		}
		var seen []store.SeenRecord
		for i, id := range ids {
			seen = append(seen, store.SeenRecord{ID: id, Activity: wm.Add(-time.Duration(len(ids)-1-i) * time.Minute)})
		}
		cp, err := s.CommitPage(ctx, store.PageCommit{Config: cfg, Prev: prev, Watermark: wm, Seen: seen, Records: len(ids),
			Overlap: 30 * time.Minute, SinkPositions: map[string]int64{"file": int64(len(ids))}})
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	commit(t0, "a", "b")
	commit(t0.Add(time.Hour), "c")
	commit(t0.Add(10*time.Minute), "d") // an overlap page older than the watermark

	cp, ok, err := other.GetCheckpoint(ctx, cfg.Key())
	if err != nil || !ok || !cp.Watermark.Equal(t0.Add(time.Hour)) || cp.Records != 4 || cp.Pages != 3 {
		t.Fatalf("checkpoint %+v %v %v: the watermark keeps its maximum, to the microsecond", cp, ok, err)
	}
	seen, err := other.SeenAmong(ctx, cp, []string{"a", "b", "c", "d", "e"})
	if err != nil || !seen["a"] || !seen["c"] || !seen["d"] || seen["e"] {
		t.Fatalf("seen %v %v", seen, err)
	}
	if err := other.ForgetSeen(ctx, cfg.Key(), cp.Watermark.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if seen, err := other.SeenAmong(ctx, cp, []string{"a", "b", "c", "d"}); err != nil || seen["a"] || seen["b"] || !seen["c"] || !seen["d"] {
		t.Fatalf("after forgetting: seen %v %v; ids before the overlap window go, newer ones stay", seen, err)
	}
	if pos, ok, err := other.SinkPosition(ctx, "file"); err != nil || !ok || pos != 1 {
		t.Fatalf("sink position %d %v %v", pos, ok, err)
	}

	// Two writers commit from the same checkpoint: one wins, the other is
	// told, and the ids the loser wrote are not seen from the winner's
	// checkpoint unless the winner delivered them too.
	base, _, _ := s.GetCheckpoint(ctx, cfg.Key())
	results := make([]error, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := store.New(handle())
			_, results[i] = w.CommitPage(ctx, store.PageCommit{Config: cfg, Prev: base, Watermark: t0.Add(2 * time.Hour),
				Seen: []store.SeenRecord{{ID: fmt.Sprintf("w%d", i), Activity: t0.Add(2 * time.Hour)}}, Overlap: 30 * time.Minute, Records: 1})
		}()
	}
	wg.Wait()
	conflicts := 0
	for _, err := range results {
		if errors.Is(err, store.ErrConflict) {
			conflicts++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if conflicts != 1 {
		t.Fatalf("concurrent commits from one checkpoint: %v; want exactly one conflict", results)
	}
	after, _, _ := s.GetCheckpoint(ctx, cfg.Key())
	if after.Pages != base.Pages+1 || after.Records != base.Records+1 {
		t.Fatalf("checkpoint after the race %+v (from %+v)", after, base)
	}
	if seen, _ := s.SeenAmong(ctx, after, []string{"w0", "w1"}); len(seen) != 1 {
		t.Fatalf("seen after the race %v: only the winner's page counts", seen)
	}

	// A page whose checkpoint never committed (a crash in between) left
	// its ids behind; they do not count as seen.
	if _, err := s.CommitPage(ctx, store.PageCommit{Config: cfg, Prev: base, Seen: []store.SeenRecord{{ID: "crashed", Activity: t0}}, Overlap: time.Hour}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a commit from a superseded checkpoint: %v", err)
	}
	if seen, _ := s.SeenAmong(ctx, after, []string{"crashed"}); seen["crashed"] {
		t.Fatal("an id of an uncommitted page counts as seen")
	}
}

// Leases checks that a lease has one holder, is renewed, and is taken over
// once its holder stops renewing.
func Leases(t *testing.T, backend Backend) {
	handle := backend(t)
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a, b := store.New(handle()).WithClock(clock), store.New(handle()).WithClock(clock)

	held, ok, err := a.AcquireLease(ctx, "harvest", "serve-1", 30*time.Second)
	if err != nil || !ok || held.Holder != "serve-1" {
		t.Fatalf("%+v %v %v", held, ok, err)
	}
	if cur, ok, err := b.AcquireLease(ctx, "harvest", "cli-2", 30*time.Second); err != nil || ok || cur.Holder != "serve-1" || !cur.Expires.Equal(now.Add(30*time.Second)) {
		t.Fatalf("a held lease is refused, naming its holder and expiry: %+v %v %v", cur, ok, err)
	}
	advance(20 * time.Second)
	if held, err = a.RenewLease(ctx, held, 30*time.Second); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	advance(20 * time.Second) // 40 s after the first acquisition, 20 s after the renewal
	if _, ok, _ := b.AcquireLease(ctx, "harvest", "cli-2", 30*time.Second); ok {
		t.Fatal("a renewed lease was taken over before its new expiry")
	}
	advance(11 * time.Second) // the holder stopped renewing: the lease has expired
	takers := race(t, handle, 6, func(s *store.Store, i int) (bool, error) {
		_, ok, err := s.WithClock(clock).AcquireLease(ctx, "harvest", fmt.Sprintf("taker-%d", i), 30*time.Second)
		return ok, err
	})
	if takers != 1 {
		t.Fatalf("%d of 6 concurrent takers took the expired lease; want exactly one", takers)
	}
	if _, err := a.RenewLease(ctx, held, 30*time.Second); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("the old holder's renewal after a takeover: %v", err)
	}
	if err := a.ReleaseLease(ctx, held); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.AcquireLease(ctx, "harvest", "cli-2", 30*time.Second); ok {
		t.Fatal("a release by a holder who lost the lease freed it")
	}
}

// Progress checks the onboarding records.
func Progress(t *testing.T, backend Backend) {
	handle := backend(t)
	s := store.New(handle())
	id := "3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64"
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	if err := s.SaveOnboarding(ctx, store.Onboarding{ID: id, SourceTenantID: "s", TargetTenantID: "t", Name: "Contoso to Fabrikam",
		Users: []string{"u1", "u2"}, State: store.StateRequested, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// Eight workers settle the same step at once (a redelivered message).
	race(t, handle, 8, func(w *store.Store, i int) (bool, error) {
		err := w.SaveProgress(ctx, store.Update{
			Step:       &store.Step{OnboardingID: id, Name: "ensure-target-partner", State: store.StepDone, Attempts: 1, Detail: "created", UpdatedAt: t0.Add(time.Second)},
			Onboarding: &store.Onboarding{ID: id, State: store.StateRunning, Step: "ensure-target-partner", Detail: "created", UpdatedAt: t0.Add(time.Second)},
		})
		return true, err
	})
	if err := s.SaveProgress(ctx, store.Update{
		Step:       &store.Step{OnboardingID: id, Name: "read-job-status", State: store.StepDone, Attempts: 2, UpdatedAt: t0.Add(time.Minute)},
		Onboarding: &store.Onboarding{ID: id, State: store.StateCompleted, Step: "read-job-status", JobID: "Azure2Azure.x", UpdatedAt: t0.Add(time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	// A redelivered earlier step does not undo the verdict.
	if err := s.SaveProgress(ctx, store.Update{Onboarding: &store.Onboarding{ID: id, State: store.StateWaiting, Step: "ensure-sync-job", UpdatedAt: t0.Add(2 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	o, steps, err := store.New(handle()).GetOnboarding(ctx, id)
	if err != nil || o.State != store.StateCompleted || o.Step != "read-job-status" || o.Name != "Contoso to Fabrikam" || o.JobID != "Azure2Azure.x" ||
		strings.Join(o.Users, ",") != "u1,u2" || !o.CreatedAt.Equal(t0) {
		t.Fatalf("onboarding %+v %v", o, err)
	}
	if len(steps) != 2 || steps[0].Name != "ensure-target-partner" || steps[0].Runs != 8 || steps[0].Detail != "created" || steps[1].Attempts != 2 {
		t.Fatalf("steps %+v: every concurrent settlement counted once, in the order they started", steps)
	}
	if err := s.SaveOnboarding(ctx, store.Onboarding{ID: "5b1d0a00-1c2d-5e3f-8a4b-6c7d8e9f0a1b", State: store.StateRequested, UpdatedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListOnboardings(ctx, 1)
	if err != nil || len(list) != 1 || list[0].ID != "5b1d0a00-1c2d-5e3f-8a4b-6c7d8e9f0a1b" {
		t.Fatalf("list, most recent first: %+v %v", list, err)
	}
	if _, _, err := s.GetOnboarding(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a missing onboarding: %v", err)
	}
}

// Pairs checks the per-pair record, updated by compare-and-swap.
func Pairs(t *testing.T, backend Backend) {
	handle := backend(t)
	src, dst := "0B7F3C2E-5A4D-4E61-9C1A-7D2E8F901A11", "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55"
	race(t, handle, 8, func(s *store.Store, i int) (bool, error) {
		_, err := s.UpdatePair(ctx, src, dst, func(p *store.Pair) error {
			var users []string
			_ = json.Unmarshal(p.Desired, &users)
			users = append(users, fmt.Sprint(i))
			p.Desired, _ = json.Marshal(users)
			if p.Found == nil && i == 0 {
				existed := true
				p.Found = &store.Found{TargetPartnerExisted: &existed}
			}
			return nil
		})
		return true, err
	})
	p, ok, err := store.New(handle()).GetPair(ctx, strings.ToLower(src), dst)
	var users []string
	_ = json.Unmarshal(p.Desired, &users)
	if err != nil || !ok || len(users) != 8 || p.Found == nil || p.Found.TargetPartnerExisted == nil || !*p.Found.TargetPartnerExisted {
		t.Fatalf("pair %+v %v %v: every concurrent update applied once", p, ok, err)
	}
	if list, err := store.New(handle()).ListPairs(ctx); err != nil || len(list) != 1 {
		t.Fatalf("pairs %+v %v", list, err)
	}
}

// IntakeClaims: the same intake request claimed by many instances at once
// keeps the first onboarding id, and every later read returns it.
func IntakeClaims(t *testing.T, backend Backend) {
	handle := backend(t)
	key := "3b1f0c2d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"
	if _, found, err := store.New(handle()).IntakeClaim(ctx, key); err != nil || found {
		t.Fatalf("an unclaimed key: %v %v", found, err)
	}
	race(t, handle, 8, func(s *store.Store, i int) (bool, error) {
		return true, s.ClaimIntake(ctx, key, fmt.Sprintf("onboarding-%d", i))
	})
	first, found, err := store.New(handle()).IntakeClaim(ctx, key)
	if err != nil || !found || !strings.HasPrefix(first, "onboarding-") {
		t.Fatalf("claimed: %q %v %v", first, found, err)
	}
	for range 3 {
		if again, _, _ := store.New(handle()).IntakeClaim(ctx, key); again != first {
			t.Fatalf("the claim changed from %s to %s", first, again)
		}
	}
}

// race runs fn n times at once, each on its own handle, and counts the runs
// that reported true.
func race(t *testing.T, handle func() store.KV, n int, fn func(s *store.Store, i int) (bool, error)) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, errs := 0, []error{}
	start := make(chan struct{})
	for i := range n {
		s := store.New(handle())
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := fn(s, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				wins++
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent callers failed: %v", errs)
	}
	return wins
}
