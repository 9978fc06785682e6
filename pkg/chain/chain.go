// Package chain is ctsync's router, in the shape of Watermill's
// message.Router: one table says which handler each event type triggers
// (handlers only return what they produced, and never name a successor),
// and the router's core loop only parses a delivery, routes it, calls the
// handler and settles the delivery as the handler's outcome says.
//
// Everything else is middleware, one concern per file, composed around every
// handler alike (router.go lists the order):
//
//	logging.go     correlation id and structured logs
//	dedup.go       a message handled before is acknowledged, not run again
//	progress.go    the store's record of where each onboarding stands
//	deadletter.go  failures that will not pass: dead letter, with an alert
//	retry.go       failures that may pass: a delayed copy, Retry-After honoured
//	wait.go        "not yet" answers: requeued without counting an attempt,
//	               bounded by the replication window
//	timeout.go     a deadline per handler run
//	recoverer.go   a panic becomes a transient failure
//
// The router knows no step: which routes exist, how a failure is alerted and
// how progress is recorded are declared above it (package onboarding).
//
// Retry ownership: for the steps' Graph calls, the router is the only retry
// owner — pkg/graph retries nothing itself — so a throttled read and a
// throttled write are treated alike and a wait never holds a worker.
package chain

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/store"
)

// Handler performs one step for one event.
type Handler func(ctx context.Context, ev events.Event) (outcome.Result, error)

// Route says: an event of type On triggers handler Step.
type Route struct {
	On     events.Type
	Step   string // handler name; also its queue's and its Azure function's name
	Title  string // what the step does, for people
	Handle Handler
}

// Table is the whole chain: every route, in chain order.
type Table struct {
	routes []Route
	byType map[events.Type]Route
}

// NewTable checks that every event type is known and triggers at most one
// handler. One handler may consume several types (the monitor its start and
// its own re-checks, the notifier every alert).
func NewTable(routes ...Route) (*Table, error) {
	t := &Table{routes: routes, byType: map[events.Type]Route{}}
	for _, r := range routes {
		if _, ok := events.Lookup(r.On); !ok {
			return nil, fmt.Errorf("route for unknown event type %q", r.On)
		}
		if _, dup := t.byType[r.On]; dup {
			return nil, fmt.Errorf("event type %s routed twice", r.On)
		}
		if r.Step == "" || r.Handle == nil {
			return nil, fmt.Errorf("route for %s needs a step name and a handler", r.On)
		}
		t.byType[r.On] = r
	}
	return t, nil
}

// Route returns the route of event type typ.
func (t *Table) Route(typ events.Type) (Route, bool) {
	r, ok := t.byType[typ]
	return r, ok
}

// Routes returns the routes in chain order.
func (t *Table) Routes() []Route { return append([]Route(nil), t.routes...) }

// Queues returns every queue name (one per step), sorted.
func (t *Table) Queues() []string {
	seen := map[string]bool{}
	var qs []string
	for _, r := range t.routes {
		if !seen[r.Step] {
			seen[r.Step] = true
			qs = append(qs, r.Step)
		}
	}
	sort.Strings(qs)
	return qs
}

// HasQueue reports whether name is one of the step queues.
func (t *Table) HasQueue(name string) bool {
	for _, r := range t.routes {
		if r.Step == name {
			return true
		}
	}
	return false
}

// QueueFor returns the queue an event of type typ is published to.
func (t *Table) QueueFor(typ events.Type) (string, bool) {
	r, ok := t.byType[typ]
	return r.Step, ok
}

// Outgoing seals events (encodes and checks them as a receiver would) and
// addresses each to the queue the table names for its type: how anything
// (intake, the harvester's alerts, the router itself) hands events to a bus.
func (t *Table) Outgoing(evs ...events.Event) ([]bus.Outgoing, error) {
	out := make([]bus.Outgoing, 0, len(evs))
	for _, ev := range evs {
		o, _, err := t.seal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func (t *Table) seal(ev events.Event) (bus.Outgoing, events.Event, error) {
	q, ok := t.QueueFor(ev.Type)
	if !ok {
		return bus.Outgoing{}, events.Event{}, fmt.Errorf("no handler consumes %s events", ev.Type)
	}
	body, sealed, err := ev.Sealed()
	if err != nil {
		return bus.Outgoing{}, events.Event{}, err
	}
	return bus.Outgoing{ID: ev.ID, Queue: q, Body: body, NotBefore: ev.NotBefore}, sealed, nil
}

// Message is a delivery on its way through the router: what the transport
// handed over, the event parsed from it, and the route it takes.
type Message struct {
	Delivery bus.Delivery
	Event    events.Event
	Route    Route
	// Attempt is 1 on the first delivery and counts failures only: a copy
	// requeued because the step waits keeps its number.
	Attempt int
	// WaitingSince is when the step first answered "not yet" for this
	// message (zero when it has not).
	WaitingSince time.Time
}

// Verdict is how a message is settled.
type Verdict int

// Verdicts.
const (
	Ack        Verdict = iota // done; publish what it produced
	Requeue                   // try again later, as a copy
	DeadLetter                // give up, with a reason a person can act on
)

// Outcome is what the middleware made of a handler run: how to settle the
// message, and what to tell people about it.
type Outcome struct {
	Verdict Verdict
	// Produced are the events an Ack publishes, sealed.
	Produced []events.Event
	// Delay and Counted describe a Requeue: when to look again, and whether
	// the attempt counts (a failure) or not (a wait, or a shutdown).
	Delay   time.Duration
	Counted bool
	// WaitingSince travels with a requeued wait (see Message).
	WaitingSince time.Time
	// Wait is the handler's "not yet", for a Requeue that is a wait.
	Wait *outcome.Wait
	// Reason, Description and Remedy describe a DeadLetter; Alerts are
	// published with it (e.g. step.failed).
	Reason, Description, Remedy string
	Alerts                      []events.Event
	// Err is the failure behind a counted Requeue or a DeadLetter.
	Err error
	// Note is what the handler said it found or changed.
	Note string
	// Took is how long the handler ran.
	Took time.Duration
	// Interrupted marks a requeue because the host is shutting down.
	Interrupted bool
	// Deferred marks a requeue of a message whose handler did not run
	// (its tenant was at its concurrency cap): nothing to count or record.
	Deferred bool
	// Duplicate marks an Ack of a message that was handled before.
	Duplicate bool
	// Progress is what the settlement records for people (see Recorder).
	Progress []store.Update

	out []bus.Outgoing // Produced, addressed
}

// HandlerFunc is a handler as middleware sees it.
type HandlerFunc func(ctx context.Context, m *Message) (Outcome, error)

// Middleware wraps a HandlerFunc with one concern.
type Middleware func(HandlerFunc) HandlerFunc
