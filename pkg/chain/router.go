package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/store"
)

// Router processes deliveries: parse, route, call the handler through the
// middleware, settle. It holds no state between deliveries, so any number of
// processes may run one against the same queues.
type Router struct {
	Table   *Table
	Settler bus.Settler
	// Middleware wraps every handler, outermost first (see Stack).
	Middleware []Middleware
	// Progress saves the progress the middleware recorded, after the
	// settlement; nil saves nothing.
	Progress store.Progress
	// Atomic, when set, returns a settler that commits updates in the same
	// transaction as the settlement (the embedded queue and store share a
	// database); Progress is then not used for them.
	Atomic func(updates []store.Update) bus.Settler
	// Unreadable records what is known about a delivery that is not a
	// valid event (e.g. the onboarding it still names); may be nil.
	Unreadable func(body []byte, err error) []store.Update
	Log        *slog.Logger
	Now        func() time.Time
}

// settleTimeout bounds a settlement; it runs even when the handler's
// context was cancelled by a shutdown, so the outcome is not lost.
const settleTimeout = 30 * time.Second

// Process handles one delivery to the end and settles it. It returns an
// error only when the settlement failed; the message then comes back when
// its lock expires, and handling it again is safe.
func (r *Router) Process(ctx context.Context, d bus.Delivery) error {
	ev, err := events.Parse(d.Body)
	if err != nil {
		r.log().Warn("dead-lettering a malformed event", "queue", d.Queue, "message_id", d.ID, "error", err)
		var updates []store.Update
		if r.Unreadable != nil {
			updates = r.Unreadable(d.Body, err)
		}
		return r.settle(ctx, d, nil, Outcome{Verdict: DeadLetter, Reason: "InvalidEvent", Description: err.Error(), Progress: updates})
	}
	route, ok := r.Table.Route(ev.Type)
	if !ok {
		r.log().Warn("dead-lettering an event nobody handles", "event_type", ev.Type, "event_id", ev.ID)
		return r.settle(ctx, d, nil, Outcome{Verdict: DeadLetter, Reason: "UnroutableEvent", Description: fmt.Sprintf("no handler consumes %s events", ev.Type)})
	}
	m := &Message{Delivery: d, Event: ev, Route: route, Attempt: ev.Attempts + max(d.DeliveryCount, 1)}
	if ev.WaitingSince != nil {
		m.WaitingSince = *ev.WaitingSince
	}
	h := r.call
	for i := len(r.Middleware) - 1; i >= 0; i-- {
		h = r.Middleware[i](h)
	}
	o, err := h(ctx, m)
	if err != nil {
		// The stack ends every failure in a verdict; this is the guard for
		// a stack assembled without the dead-letter middleware.
		o = Outcome{Verdict: DeadLetter, Reason: string(fault.KindOf(err)), Description: events.Text(err.Error(), 4000), Err: err}
	}
	return r.settle(ctx, d, m, o)
}

// call runs the route's handler and turns its answer into an outcome: a
// wait becomes an uncounted requeue (the wait middleware bounds it), and
// produced events are stamped as following from the message and sealed, so
// an event that could not be published fails here, where it can still be
// dead-lettered.
func (r *Router) call(ctx context.Context, m *Message) (Outcome, error) {
	res, err := m.Route.Handle(ctx, m.Event)
	if err != nil {
		return Outcome{}, err
	}
	if res.Wait != nil {
		return Outcome{Verdict: Requeue, Delay: res.Wait.After, Wait: res.Wait}, nil
	}
	o := Outcome{Verdict: Ack}
	for i, ev := range res.Events {
		ev.FollowFrom(m.Event, "/ctsync/steps/"+m.Route.Step, i, r.now())
		out, sealed, err := r.Table.seal(ev)
		if err != nil {
			return Outcome{}, &fault.Error{Kind: fault.Invalid, Op: m.Route.Step, Message: "the handler produced an event that cannot be published: " + err.Error()}
		}
		o.Produced, o.out = append(o.Produced, sealed), append(o.out, out)
	}
	return o, nil
}

func (r *Router) settle(ctx context.Context, d bus.Delivery, m *Message, o Outcome) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	settler, atomic := r.Settler, false
	if r.Atomic != nil && len(o.Progress) > 0 {
		settler, atomic = r.Atomic(o.Progress), true
	}
	var err error
	switch o.Verdict {
	case Ack:
		err = settler.Ack(sctx, d, o.out...)
	case Requeue:
		var next bus.Outgoing
		if next, err = r.requeued(m, o); err == nil {
			err = settler.Retry(sctx, d, next)
		}
	case DeadLetter:
		var alerts []bus.Outgoing
		for _, a := range o.Alerts {
			if m != nil {
				a.FollowFrom(m.Event, "/ctsync/chain", len(alerts), r.now())
			}
			out, _, serr := r.Table.seal(a)
			if serr != nil {
				r.log().Error("cannot publish an alert", "alert_type", a.Type, "error", serr)
				continue
			}
			alerts = append(alerts, out)
		}
		err = settler.DeadLetter(sctx, d, o.Reason, o.Description, alerts...)
	}
	if err != nil {
		if !errors.Is(err, bus.ErrLockLost) {
			r.log().Warn("settlement failed; the message will be delivered again", "queue", d.Queue, "message_id", d.ID, "error", err)
		}
		return err
	}
	if !atomic && r.Progress != nil && len(o.Progress) > 0 {
		// Progress is a view for people: a failure to write it is logged,
		// not fatal.
		if err := r.Progress.SaveProgress(sctx, o.Progress...); err != nil {
			r.log().Warn("cannot record progress", "message_id", d.ID, "error", err)
		}
	}
	return nil
}

// requeued is the copy of m that replaces it: the same event, carrying the
// failed attempts so far (this one included when it counts) and since when
// the step has been waiting.
func (r *Router) requeued(m *Message, o Outcome) (bus.Outgoing, error) {
	ev := m.Event
	ev.Attempts = m.Attempt - 1
	if o.Counted {
		ev.Attempts = m.Attempt
	}
	ev.WaitingSince = nil
	if !o.WaitingSince.IsZero() {
		since := o.WaitingSince.UTC()
		ev.WaitingSince = &since
	}
	body, err := ev.Encode()
	if err != nil {
		return bus.Outgoing{}, err
	}
	return bus.Outgoing{ID: events.DeriveID(m.Delivery.ID, "requeue", 0), Queue: m.Delivery.Queue, Body: body,
		NotBefore: r.now().Add(o.Delay)}, nil
}

func (r *Router) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Router) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}
