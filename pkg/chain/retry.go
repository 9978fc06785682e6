package chain

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/ctsync/ctsync/pkg/fault"
)

// Policy says how often and how patiently failures that may pass are
// retried (fault.Kind.Retryable says which those are).
type Policy struct {
	// MaxAttempts is how many attempts a retryable failure gets before it is
	// dead-lettered. Waits for replication do not count. Default 15.
	MaxAttempts int
	// BaseDelay doubles per attempt up to MaxDelay; Retry-After wins when
	// longer. Defaults 1 s and 60 s.
	BaseDelay, MaxDelay time.Duration
}

// WithDefaults fills in the defaults.
func (p Policy) WithDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 15
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = time.Minute
	}
	return p
}

// Delay is the wait before attempt+1: exponential with jitter, or what the
// service asked for when that is longer.
func (p Policy) Delay(attempt int, retryAfter time.Duration) time.Duration {
	d := p.BaseDelay << min(max(attempt-1, 0), 20)
	if d > p.MaxDelay || d <= 0 {
		d = p.MaxDelay
	}
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// Retry requeues failures that may pass if tried again, as a delayed copy
// that counts the attempt, until MaxAttempts; later ones, and failures that
// will not pass, go on to the dead-letter middleware. A handler cut short by
// the host shutting down is handed back at once without counting.
func Retry(p Policy) Middleware {
	p = p.WithDefaults()
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			o, err := next(ctx, m)
			if err == nil {
				return o, nil
			}
			if fault.Canceled(err) && ctx.Err() != nil {
				return Outcome{Verdict: Requeue, Interrupted: true, WaitingSince: m.WaitingSince, Err: err}, nil
			}
			if fault.KindOf(err).Retryable() && m.Attempt < p.MaxAttempts {
				return Outcome{Verdict: Requeue, Counted: true, Delay: p.Delay(m.Attempt, fault.RetryAfterOf(err)),
					WaitingSince: m.WaitingSince, Err: err}, nil
			}
			return o, err
		}
	}
}
