// Package outcome is what a handler answers when it is done with a message:
// the events it produced, or "not yet, look again after d". The second is
// not a failure — Entra replicates new objects for seconds to minutes — so
// the router requeues such a message without counting an attempt, the way
// controller-runtime treats Result{RequeueAfter} apart from an error.
// Failures are errors (classified by package fault).
package outcome

import (
	"fmt"
	"time"

	"github.com/ctsync/ctsync/events"
)

// Result is a handler's answer. A zero Result means done, nothing produced.
type Result struct {
	// Events are the events the handler produced, published when the
	// message is settled.
	Events []events.Event
	// Wait, when set, says the condition the handler needs does not hold
	// yet; Events are ignored.
	Wait *Wait
}

// Wait asks to be called again later. It is bounded: the router remembers
// when the condition was first seen, and once the replication window has
// passed the wait becomes the failure it is (see Expired).
type Wait struct {
	// After is how long to wait before the next look.
	After time.Duration
	// Op names the call that showed the condition, for logs and the failure.
	Op string
	// Reason says, for people, what is awaited.
	Reason string
}

// Emit is the result of a handler that produced events.
func Emit(evs ...events.Event) Result { return Result{Events: evs} }

// Of builds one event of type t carrying data and returns it as the result.
// data is one of the events package's types, which always encode; an error
// here is a programming mistake, reported like any other failure.
func Of(t events.Type, data any) (Result, error) {
	ev, err := events.New(t, data)
	if err != nil {
		return Result{}, err
	}
	return Emit(ev), nil
}

// NotYet is the result of a handler whose condition does not hold yet.
func NotYet(after time.Duration, op, format string, args ...any) Result {
	return Result{Wait: &Wait{After: after, Op: op, Reason: fmt.Sprintf(format, args...)}}
}

// Waiting reports whether r asks to be called again later.
func (r Result) Waiting() bool { return r.Wait != nil }
