package chain

import (
	"context"
	"log/slog"

	"github.com/ctsync/ctsync/pkg/store"
)

// HandledLookup reports whether a message was acknowledged before.
type HandledLookup func(ctx context.Context, h store.Handled) (bool, error)

// Deduplicate acknowledges a message that was handled before without
// running it again, and marks every message it acknowledges as handled. The
// mark travels with the settlement's progress, so it is written only after
// what the handler produced was published: a crash in between runs the step
// once more, never loses its products.
//
// The embedded queue and Service Bus drop a republished message id
// themselves; SQS standard queues do not, and without this a message
// delivered twice would publish its successor twice, and so on down the
// chain, doubling at every step.
func Deduplicate(handled HandledLookup, log *slog.Logger) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			mark := store.Handled{Correlation: m.Event.CorrelationID, Step: m.Route.Step, EventID: m.Event.ID}
			if mark.Correlation == "" {
				mark.Correlation = m.Event.ID
			}
			done, err := handled(ctx, mark)
			if err != nil {
				return Outcome{}, err
			}
			if done {
				log.Info("duplicate delivery of a handled message; acknowledged without running again",
					"step", m.Route.Step, "event_id", m.Event.ID, "correlation_id", mark.Correlation)
				return Outcome{Verdict: Ack, Duplicate: true}, nil
			}
			o, err := next(ctx, m)
			if err == nil && o.Verdict == Ack {
				o.Progress = append(o.Progress, store.Update{Handled: &mark})
			}
			return o, err
		}
	}
}
