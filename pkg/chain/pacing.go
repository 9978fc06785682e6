package chain

import (
	"context"
	"math/rand/v2"
	"time"
)

// Pacing hands a message back, without counting an attempt, while a tenant
// it touches may not be written to: before the handler runs when the
// tenant's write budget is spent or Graph asked to wait (wait), and after
// it when a write was held back mid-way (paced). Steps are ensures, so the
// re-run picks up where the held-back write left off. The delay is the
// wait itself, spread a little so a thousand messages do not come back at
// once.
func Pacing(touched func(*Message) []string, wait func(tenant string) time.Duration, paced func(error) (time.Duration, bool)) Middleware {
	later := func(m *Message, d time.Duration) (Outcome, error) {
		d += time.Duration(rand.Int64N(int64(d/10) + int64(10*time.Millisecond)))
		return Outcome{Verdict: Requeue, Delay: d, Deferred: true, WaitingSince: m.WaitingSince}, nil
	}
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			var longest time.Duration
			for _, t := range touched(m) {
				longest = max(longest, wait(t))
			}
			if longest > 0 {
				return later(m, longest)
			}
			o, err := next(ctx, m)
			if d, ok := paced(err); ok {
				return later(m, d)
			}
			return o, err
		}
	}
}
