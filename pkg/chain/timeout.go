package chain

import (
	"context"
	"time"
)

// Timeout bounds one handler run. A run cut off by it fails like any
// transient fault (context.DeadlineExceeded is unclassified, hence
// transient) and is retried; hosts keep their message lock longer than d or
// renew it.
func Timeout(d time.Duration) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, m)
		}
	}
}
