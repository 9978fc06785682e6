package chain

import (
	"context"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// Waits bounds a handler's "not yet". A wait is requeued without counting
// an attempt, carrying when it was first seen. The handler learns (through
// outcome.WaitStateOf) since when it has waited and whether the replication
// window has passed, so it can name what a lasting absence means — a job
// read before and gone since is drift, which the steps report as such. A
// handler that still answers "not yet" once told the wait is over fails as
// not found (a failure that is not retried): the awaited object did not
// appear in the time Entra takes to replicate.
func Waits(window time.Duration, now func() time.Time) Middleware {
	if now == nil {
		now = time.Now
	}
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			since := m.WaitingSince
			over := !since.IsZero() && now().Sub(since) >= window
			o, err := next(outcome.WithWaitState(ctx, outcome.WaitState{Since: since, Over: over}), m)
			if err != nil || o.Wait == nil {
				return o, err
			}
			if since.IsZero() {
				since = now()
			}
			if over {
				waited := now().Sub(since)
				return Outcome{}, &fault.Error{Kind: fault.NotFound, Op: o.Wait.Op,
					Message: fmt.Sprintf("%s; still so after %s of waiting (since %s), longer than the replication window of %s",
						o.Wait.Reason, waited.Round(time.Second), since.UTC().Format(time.RFC3339), window),
					Remedy: "check in the tenant whether the object exists; if ctsync's create never took effect, replay the dead letter to create it again"}
			}
			o.Verdict, o.Counted, o.WaitingSince = Requeue, false, since
			o.Delay = PollAfter(now().Sub(since), o.Wait.After)
			return o, nil
		}
	}
}

// PollAfter is when to look again at something Entra is still replicating,
// elapsed into the wait: soon and often at first — a new object usually
// shows up within seconds, and every poll's delay is added to the
// onboarding — then less often, never more than most (the step's own
// ceiling, CTSYNC_REPLICATION_POLL). The first looks are cheap GETs; a
// pair's tenants see at most ten a second, and only for the first seconds.
func PollAfter(elapsed, most time.Duration) time.Duration {
	var d time.Duration
	switch {
	case elapsed < 5*time.Second:
		d = 100 * time.Millisecond
	case elapsed < 20*time.Second:
		d = 500 * time.Millisecond
	case elapsed < time.Minute:
		d = 2 * time.Second
	default:
		d = most
	}
	if most > 0 && d > most {
		d = most
	}
	return d
}
