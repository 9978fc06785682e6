package chain_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/store"
)

// These tests drive the router with handlers written for the test, on the
// real embedded queue: what is under test is the router's treatment of
// outcomes, not any step.

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

// clock is a fake clock the queue and the router share.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type rig struct {
	t      *testing.T
	bus    *bus.Embedded
	router *chain.Router
	clock  *clock
}

// recorder records every outcome's verdict as a step record, so tests can
// check what the progress middleware hands over.
type recorder struct{}

func (recorder) Record(m *chain.Message, o chain.Outcome) []store.Update {
	state := map[chain.Verdict]store.StepState{chain.Ack: store.StepDone, chain.Requeue: store.StepWaiting, chain.DeadLetter: store.StepFailed}[o.Verdict]
	return []store.Update{{Step: &store.Step{OnboardingID: m.Event.CorrelationID, Name: m.Route.Step, State: state, Attempts: m.Attempt, Detail: o.Note}}}
}

func alertOnFailure(m *chain.Message, f chain.Failure) []events.Event {
	in, _ := events.OnboardingOf(m.Event)
	ev, _ := events.New(events.StepFailed, events.StepFailure{Onboarding: *in, Step: m.Route.Step, Category: string(f.Kind),
		Reason: f.Description, Remedy: f.Remedy, Attempts: f.Attempts, FailedEventID: m.Event.ID, FailedEventType: string(m.Event.Type)})
	return []events.Event{ev}
}

func newRig(t *testing.T, stack chain.Stack, handle chain.Handler) *rig {
	t.Helper()
	db, err := localdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, _ := bus.NewEmbedded(db)
	kv, _ := store.NewSQLite(db)
	s := store.New(kv)
	c := &clock{now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	b.UseClock(c.Now)
	pass := func(ctx context.Context, ev events.Event) (outcome.Result, error) { return outcome.Result{}, nil }
	table, err := chain.NewTable(
		chain.Route{On: events.OnboardingRequested, Step: "first", Title: "first", Handle: handle},
		chain.Route{On: events.TargetPartnerEnsured, Step: "second", Title: "second", Handle: pass},
		chain.Route{On: events.StepFailed, Step: "notify", Title: "notify", Handle: pass},
	)
	if err != nil {
		t.Fatal(err)
	}
	stack.Now, stack.Recorder, stack.Alert = c.Now, recorder{}, alertOnFailure
	return &rig{t: t, bus: b, clock: c, router: &chain.Router{Table: table, Settler: b, Progress: s, Middleware: stack.Middleware(), Now: c.Now}}
}

func (r *rig) publish(ev events.Event) {
	r.t.Helper()
	out, err := r.router.Table.Outgoing(ev)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.bus.Publish(context.Background(), out...); err != nil {
		r.t.Fatal(err)
	}
}

// next receives the next due message of queue, advancing the fake clock to
// when it is due.
func (r *rig) next(queue string) (bus.Delivery, bool) {
	r.t.Helper()
	for i := 0; i < 2; i++ {
		ds, err := r.bus.Receive(context.Background(), []string{queue}, 1, time.Minute)
		if err != nil {
			r.t.Fatal(err)
		}
		if len(ds) == 1 {
			return ds[0], true
		}
		due, ok, err := r.bus.NextDue(context.Background())
		if err != nil || !ok {
			return bus.Delivery{}, false
		}
		if wait := due.Sub(r.clock.Now()); wait > 0 {
			r.clock.Advance(wait)
		}
	}
	return bus.Delivery{}, false
}

// run processes queue's messages until none is due, and returns how many.
func (r *rig) run(queue string) int {
	r.t.Helper()
	n := 0
	for {
		d, ok := r.next(queue)
		if !ok {
			return n
		}
		if err := r.router.Process(context.Background(), d); err != nil {
			r.t.Fatal(err)
		}
		n++
		if n > 1000 {
			r.t.Fatal("the message never settled for good")
		}
	}
}

func (r *rig) deadLetters() []bus.DeadLetter {
	r.t.Helper()
	dls, err := r.bus.DeadLetters(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return dls
}

func TestWaitsDoNotUseUpAttemptsAndFailuresDo(t *testing.T) {
	stack := chain.Stack{Policy: chain.Policy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Second}, ReplicationWindow: 5 * time.Minute}
	t.Run("fifty waits in a row inside the window, then success", func(t *testing.T) {
		calls := 0
		r := newRig(t, stack, func(ctx context.Context, ev events.Event) (outcome.Result, error) {
			calls++
			if calls <= 50 {
				return outcome.NotYet(2*time.Second, "GET /job", "job not readable yet"), nil
			}
			in, _ := events.OnboardingOf(ev)
			return outcome.Of(events.TargetPartnerEnsured, *in)
		})
		r.publish(example(t, events.OnboardingRequested))
		if n := r.run("first"); n != 51 {
			t.Fatalf("the step ran %d times, want 51", n)
		}
		if dls := r.deadLetters(); len(dls) != 0 {
			t.Fatalf("a step that only waited was dead-lettered: %+v", dls)
		}
		if d, ok := r.next("second"); !ok || !strings.Contains(string(d.Body), `"type":"target.partner.ensured"`) {
			t.Fatal("the step's event was not published after its waits")
		}
	})
	t.Run("a transient failure is dead-lettered after MaxAttempts", func(t *testing.T) {
		calls := 0
		r := newRig(t, stack, func(ctx context.Context, ev events.Event) (outcome.Result, error) {
			calls++
			return outcome.Result{}, fault.New(fault.Transient, "POST /partners", "service unavailable")
		})
		r.publish(example(t, events.OnboardingRequested))
		r.run("first")
		dls := r.deadLetters()
		if calls != 3 || len(dls) != 1 || dls[0].Reason != "transient" || !strings.Contains(dls[0].Description, "gave up after 3 attempts") {
			t.Fatalf("calls %d, dead letters %+v", calls, dls)
		}
	})
	t.Run("waits between failures do not count either", func(t *testing.T) {
		calls := 0
		r := newRig(t, stack, func(ctx context.Context, ev events.Event) (outcome.Result, error) {
			calls++
			if calls%2 == 1 {
				return outcome.NotYet(time.Second, "GET /job", "not yet"), nil
			}
			return outcome.Result{}, fault.New(fault.Transient, "GET /job", "503")
		})
		r.publish(example(t, events.OnboardingRequested))
		r.run("first")
		if calls != 6 || len(r.deadLetters()) != 1 {
			t.Fatalf("calls %d (want 3 waits and 3 failures), dead letters %d", calls, len(r.deadLetters()))
		}
	})
}

func TestAWaitThatNeverEndsBecomesNotFoundAfterTheWindow(t *testing.T) {
	calls := 0
	r := newRig(t, chain.Stack{Policy: chain.Policy{MaxAttempts: 3}, ReplicationWindow: time.Minute}, func(ctx context.Context, ev events.Event) (outcome.Result, error) {
		calls++
		return outcome.NotYet(10*time.Second, "GET /servicePrincipals/{id}", "service principal 1e76 is not readable yet (replication)"), nil
	})
	start := r.clock.Now()
	r.publish(example(t, events.OnboardingRequested))
	r.run("first")
	dls := r.deadLetters()
	if len(dls) != 1 || dls[0].Reason != "not_found" || !strings.Contains(dls[0].Description, "service principal 1e76 is not readable yet") ||
		!strings.Contains(dls[0].Description, "replication window of 1m0s") {
		t.Fatalf("dead letters %+v", dls)
	}
	if waited := r.clock.Now().Sub(start); waited < time.Minute || waited > time.Minute+20*time.Second || calls < 6 {
		t.Fatalf("gave up after %s and %d calls; want just past the one-minute window", waited, calls)
	}
	failed, ok := r.next("notify")
	if !ok || !strings.Contains(string(failed.Body), `"category":"not_found"`) {
		t.Fatal("no step.failed alert for the expired wait")
	}
}

func TestProducedEventsFollowTheirCauseAndAreValidated(t *testing.T) {
	in := example(t, events.OnboardingRequested)
	r := newRig(t, chain.Stack{}, func(ctx context.Context, ev events.Event) (outcome.Result, error) {
		o, _ := events.OnboardingOf(ev)
		return outcome.Of(events.TargetPartnerEnsured, *o)
	})
	r.publish(in)
	r.run("first")
	d, ok := r.next("second")
	if !ok {
		t.Fatal("nothing produced")
	}
	out, err := events.Parse(d.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != events.DeriveID(in.ID, string(events.TargetPartnerEnsured), 0) || out.CorrelationID != in.CorrelationID ||
		out.Source != "/ctsync/steps/first" || out.Subject != in.Subject {
		t.Fatalf("produced %+v from %+v", out, in)
	}
}

func TestAHandlerProducingAnInvalidEventIsDeadLetteredNotPublished(t *testing.T) {
	r := newRig(t, chain.Stack{Policy: chain.Policy{MaxAttempts: 5}}, func(ctx context.Context, ev events.Event) (outcome.Result, error) {
		o, _ := events.OnboardingOf(ev)
		bad := *o
		bad.OnboardingID = "not-a-guid"
		return outcome.Of(events.TargetPartnerEnsured, bad)
	})
	r.publish(example(t, events.OnboardingRequested))
	r.run("first")
	dls := r.deadLetters()
	if len(dls) != 1 || dls[0].Reason != "invalid" || !strings.Contains(dls[0].Description, "data.onboardingId") {
		t.Fatalf("dead letters %+v", dls)
	}
	if _, ok := r.next("second"); ok {
		t.Fatal("the invalid event was published")
	}
	if _, ok := r.next("notify"); !ok {
		t.Fatal("no step.failed alert")
	}
}

func TestMalformedAndUnroutableEventsAreDeadLettered(t *testing.T) {
	r := newRig(t, chain.Stack{}, func(ctx context.Context, ev events.Event) (outcome.Result, error) { return outcome.Result{}, nil })
	unroutable, _, _ := example(t, events.SourceJobEnsured).Sealed()
	for i, body := range [][]byte{[]byte(`{"not":"an event"`), unroutable} {
		if err := r.bus.Publish(context.Background(), bus.Outgoing{ID: string(rune('a' + i)), Queue: "first", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	r.run("first")
	dls := r.deadLetters()
	if len(dls) != 2 || dls[0].Reason != "InvalidEvent" || dls[1].Reason != "UnroutableEvent" {
		t.Fatalf("dead letters %+v", dls)
	}
}

func TestAcknowledgingALostLockLeavesNothingBehind(t *testing.T) {
	r := newRig(t, chain.Stack{}, func(ctx context.Context, ev events.Event) (outcome.Result, error) {
		o, _ := events.OnboardingOf(ev)
		return outcome.Of(events.TargetPartnerEnsured, *o)
	})
	r.publish(example(t, events.OnboardingRequested))
	d, _ := r.next("first")
	d.LockToken = "someone else's"
	if err := r.router.Process(context.Background(), d); !errors.Is(err, bus.ErrLockLost) {
		t.Fatalf("got %v", err)
	}
	if depth, _ := r.bus.Depth(context.Background()); depth.Ready+depth.Scheduled != 0 || depth.Locked != 1 {
		t.Fatalf("a failed acknowledgement published its products: %+v", depth)
	}
}

func TestTableRejectsUnknownAndDoubleRoutes(t *testing.T) {
	h := func(context.Context, events.Event) (outcome.Result, error) { return outcome.Result{}, nil }
	if _, err := chain.NewTable(chain.Route{On: "nope", Step: "x", Handle: h}); err == nil {
		t.Error("unknown event type accepted")
	}
	if _, err := chain.NewTable(chain.Route{On: events.SyncSteady, Step: "a", Handle: h}, chain.Route{On: events.SyncSteady, Step: "b", Handle: h}); err == nil {
		t.Error("event routed twice accepted")
	}
}
