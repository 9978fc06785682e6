package chain

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/ctsync/ctsync/pkg/fault"
)

// Recoverer turns a panicking handler into a transient failure, so one bad
// message costs a retry (and, if it keeps panicking, a dead letter) instead
// of the process.
func Recoverer(log *slog.Logger) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (o Outcome, err error) {
			defer func() {
				if p := recover(); p != nil {
					log.Error("handler panicked", "step", m.Route.Step, "event_id", m.Event.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					o, err = Outcome{}, fault.New(fault.Transient, m.Route.Step, "handler panicked: %v", p)
				}
			}()
			return next(ctx, m)
		}
	}
}
