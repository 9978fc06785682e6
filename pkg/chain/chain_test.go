package chain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
)

// These tests drive the runner with handlers written for the test: what is
// under test is the runner's treatment of outcomes, not any step.

func example(t *testing.T, typ events.Type) events.Event {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "examples", string(typ)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

type rig struct {
	bus    *bus.Embedded
	store  *store.Embedded
	runner *Runner
}

func newRig(t *testing.T, policy Policy, handle Handler) *rig {
	t.Helper()
	db, err := localdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, _ := bus.NewEmbedded(db)
	s, _ := store.NewEmbedded(db)
	pass := func(ctx context.Context, ev events.Event) ([]events.Event, error) { return nil, nil }
	table, err := NewTable(
		Route{On: events.OnboardingRequested, Step: "first", Title: "first", Handle: handle, Onboarding: true},
		Route{On: events.TargetPartnerEnsured, Step: "second", Title: "second", Handle: pass, Onboarding: true},
		Route{On: events.StepFailed, Step: "notify", Title: "notify", Handle: pass},
	)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{bus: b, store: s, runner: NewRunner(table, b, s, nil, policy)}
}

func (r *rig) publish(t *testing.T, ev events.Event) {
	t.Helper()
	out, err := r.runner.Outgoing(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.bus.Publish(context.Background(), out...); err != nil {
		t.Fatal(err)
	}
}

// next receives the next due message of queue, waiting up to a second.
func (r *rig) next(t *testing.T, queue string) bus.Delivery {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		ds, err := r.bus.Receive(context.Background(), []string{queue}, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 {
			return ds[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing arrived on %s", queue)
	return bus.Delivery{}
}

func TestAPanickingHandlerIsRetriedThenDeadLettered(t *testing.T) {
	calls := 0
	r := newRig(t, Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}, func(ctx context.Context, ev events.Event) ([]events.Event, error) {
		calls++
		panic("nil map")
	})
	r.publish(t, example(t, events.OnboardingRequested))
	for i := 0; i < 3; i++ {
		if err := r.runner.Process(context.Background(), r.next(t, "first")); err != nil {
			t.Fatal(err)
		}
	}
	dls, _ := r.bus.DeadLetters(context.Background())
	if calls != 3 || len(dls) != 1 || !strings.Contains(dls[0].Description, "gave up after 3 attempts") || !strings.Contains(dls[0].Description, "panicked: nil map") {
		t.Fatalf("calls %d, dead letters %+v", calls, dls)
	}
	failed := r.next(t, "notify")
	ev, err := events.Parse(failed.Body)
	var data events.StepFailure
	if err != nil || ev.DecodeData(&data) != nil || data.Step != "first" || data.Attempts != 3 || data.Category != "transient" {
		t.Fatalf("step.failed: %+v %v", data, err)
	}
}

func TestProducedEventsFollowTheirCauseAndAreValidated(t *testing.T) {
	in := example(t, events.OnboardingRequested)
	r := newRig(t, Policy{MaxAttempts: 2}, func(ctx context.Context, ev events.Event) ([]events.Event, error) {
		var o events.Onboarding
		_ = ev.DecodeData(&o)
		return []events.Event{events.MustNew(events.TargetPartnerEnsured, o)}, nil
	})
	r.publish(t, in)
	if err := r.runner.Process(context.Background(), r.next(t, "first")); err != nil {
		t.Fatal(err)
	}
	out, err := events.Parse(r.next(t, "second").Body)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != events.DeriveID(in.ID, string(events.TargetPartnerEnsured), 0) || out.CorrelationID != in.CorrelationID ||
		out.Source != "/ctsync/steps/first" || out.Subject != in.Subject {
		t.Fatalf("produced %+v from %+v", out, in)
	}
}

func TestAHandlerProducingAnInvalidEventIsDeadLetteredNotPublished(t *testing.T) {
	r := newRig(t, Policy{MaxAttempts: 5}, func(ctx context.Context, ev events.Event) ([]events.Event, error) {
		var o events.Onboarding
		_ = ev.DecodeData(&o)
		o.OnboardingID = "not-a-guid"
		return []events.Event{events.MustNew(events.TargetPartnerEnsured, o)}, nil
	})
	r.publish(t, example(t, events.OnboardingRequested))
	if err := r.runner.Process(context.Background(), r.next(t, "first")); err != nil {
		t.Fatal(err)
	}
	dls, _ := r.bus.DeadLetters(context.Background())
	if len(dls) != 1 || dls[0].Reason != "invalid" || !strings.Contains(dls[0].Description, "data.onboardingId") {
		t.Fatalf("dead letters %+v", dls)
	}
	if d, _ := r.bus.Depth(context.Background()); d.Ready != 1 { // only the step.failed alert
		t.Fatalf("depth %+v", d)
	}
}

func TestRetryWaitsForRetryAfterWhenLongerThanBackoff(t *testing.T) {
	r := newRig(t, Policy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}, func(ctx context.Context, ev events.Event) ([]events.Event, error) {
		e := fault.New(fault.Throttled, "op", "slow down")
		e.RetryAfter = 700 * time.Millisecond
		return nil, e
	})
	var reports []Report
	r.runner.Observe(func(rep Report) { reports = append(reports, rep) })
	r.publish(t, example(t, events.OnboardingRequested))
	if err := r.runner.Process(context.Background(), r.next(t, "first")); err != nil {
		t.Fatal(err)
	}
	last := reports[len(reports)-1]
	if last.Outcome != "retrying" || last.RetryIn < 700*time.Millisecond {
		t.Fatalf("report %+v", last)
	}
	next, ok, _ := r.bus.NextDue(context.Background())
	if !ok || time.Until(next) < 500*time.Millisecond {
		t.Fatalf("redelivery scheduled at %v", next)
	}
	o, steps, err := r.store.GetOnboarding(context.Background(), onboardingID(example(t, events.OnboardingRequested)))
	if err != nil || o.State != store.StateWaiting || len(steps) != 1 || !strings.Contains(steps[0].Detail, "retrying in") {
		t.Fatalf("progress %+v %+v %v", o, steps, err)
	}
}

func TestPolicyDelaysGrowAndTheBudgetAddsThemUp(t *testing.T) {
	p := Policy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 400 * time.Millisecond}
	p.defaults()
	for attempt, max := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 9: 400 * time.Millisecond} {
		for i := 0; i < 20; i++ {
			if d := p.Delay(attempt, 0); d < max/2 || d > max {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, max/2, max)
			}
		}
	}
	if d := p.Delay(1, 3*time.Second); d != 3*time.Second {
		t.Fatalf("Retry-After ignored: %s", d)
	}
	if b := p.Budget(); b != (50+100+200+200)*time.Millisecond {
		t.Fatalf("budget %s", b)
	}
}

func TestTableRejectsUnknownAndDoubleRoutes(t *testing.T) {
	h := func(context.Context, events.Event) ([]events.Event, error) { return nil, nil }
	if _, err := NewTable(Route{On: "nope", Step: "x", Handle: h}); err == nil {
		t.Error("unknown event type accepted")
	}
	if _, err := NewTable(Route{On: events.SyncSteady, Step: "a", Handle: h}, Route{On: events.SyncSteady, Step: "b", Handle: h}); err == nil {
		t.Error("event routed twice accepted")
	}
}

func TestAcknowledgingALostLockLeavesNothingBehind(t *testing.T) {
	r := newRig(t, Policy{MaxAttempts: 5}, func(ctx context.Context, ev events.Event) ([]events.Event, error) {
		var o events.Onboarding
		_ = ev.DecodeData(&o)
		return []events.Event{events.MustNew(events.TargetPartnerEnsured, o)}, nil
	})
	r.publish(t, example(t, events.OnboardingRequested))
	d := r.next(t, "first")
	d.LockToken = "someone else's"
	if err := r.runner.Process(context.Background(), d); !errors.Is(err, bus.ErrLockLost) {
		t.Fatalf("got %v", err)
	}
	if depth, _ := r.bus.Depth(context.Background()); depth.Ready+depth.Scheduled != 0 || depth.Locked != 1 {
		t.Fatalf("a failed acknowledgement published its products: %+v", depth)
	}
}
