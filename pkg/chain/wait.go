package chain

import (
	"context"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/pkg/fault"
)

// Waits bounds a handler's "not yet". A wait is requeued without counting
// an attempt, carrying when it was first seen; once window has passed since
// then, the wait is over: the awaited object did not appear in the time
// Entra takes to replicate, and the step fails as not found (a failure that
// is not retried). Steps answer "not yet" only for objects ctsync created and
// has never read; an object read before and gone since is drift, which the
// steps report themselves.
func Waits(window time.Duration, now func() time.Time) Middleware {
	if now == nil {
		now = time.Now
	}
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			o, err := next(ctx, m)
			if err != nil || o.Wait == nil {
				return o, err
			}
			since := m.WaitingSince
			if since.IsZero() {
				since = now()
			}
			if waited := now().Sub(since); waited >= window {
				return Outcome{}, &fault.Error{Kind: fault.NotFound, Op: o.Wait.Op,
					Message: fmt.Sprintf("%s; still so after %s of waiting (since %s), longer than the replication window of %s",
						o.Wait.Reason, waited.Round(time.Second), since.UTC().Format(time.RFC3339), window),
					Remedy: "check in the tenant whether the object exists; if ctsync's create never took effect, replay the dead letter to create it again"}
			}
			o.Verdict, o.Counted, o.WaitingSince = Requeue, false, since
			return o, nil
		}
	}
}
