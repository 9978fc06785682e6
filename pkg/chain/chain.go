// Package chain connects events to handlers. One table (table.go) says which
// handler each event type triggers; handlers only return the events they
// produce. Everything else — validation, retries with backoff that honours
// Retry-After, dead-lettering with a reason, correlation, structured logs,
// progress — is done here, around the handlers, the same way for every step
// and on every host.
package chain

import (
	"context"
	"fmt"
	"sort"

	"github.com/ctsync/ctsync/events"
)

// Handler consumes one event and returns the events it produced.
type Handler func(ctx context.Context, ev events.Event) ([]events.Event, error)

// Middleware wraps a handler with a cross-cutting concern.
type Middleware func(step string, next Handler) Handler

// Route says: an event of type On triggers handler Step.
type Route struct {
	On     events.Type
	Step   string // handler name; also its queue's and its Azure function's name
	Title  string // what the step does, for people
	Handle Handler
	// Onboarding marks the steps of the onboarding chain proper: their
	// outcomes move the onboarding's state (running, waiting, completed,
	// failed). Monitor and alert steps are recorded but leave it alone.
	Onboarding bool
}

// Table is the whole chain.
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

// Route returns the route of event type t.
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
