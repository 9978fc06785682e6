package chain

import (
	"context"
	"log/slog"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/fault"
)

// Logging gives the message its correlation id (the onboarding's id, or
// the event's own) and logs the start and the outcome of every handler run
// with it, at the level the outcome deserves.
func Logging(log *slog.Logger) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			if m.Event.CorrelationID == "" {
				m.Event.CorrelationID = m.Event.ID
				if o, ok := events.OnboardingOf(m.Event); ok && o.OnboardingID != "" {
					m.Event.CorrelationID = o.OnboardingID
				}
			}
			l := log.With("correlation_id", m.Event.CorrelationID, "event_id", m.Event.ID, "event_type", string(m.Event.Type),
				"step", m.Route.Step, "attempt", m.Attempt)
			l.Debug("step started")
			o, err := next(ctx, m)
			switch {
			case err != nil:
				l.Error("step failed without a verdict", "error", err)
			case o.Duplicate:
			case o.Verdict == Ack:
				l.Info("step done", "note", o.Note, "produced", len(o.Produced), "took_ms", o.Took.Milliseconds())
			case o.Interrupted:
				l.Info("step interrupted by shutdown; releasing the message")
			case o.Deferred:
				l.Debug("step deferred: its tenant is busy", "retry_in_ms", o.Delay.Milliseconds())
			case o.Verdict == Requeue && o.Wait != nil:
				l.Info("step waiting", "reason", o.Wait.Reason, "retry_in_ms", o.Delay.Milliseconds())
			case o.Verdict == Requeue:
				l.Warn("step will be retried", "kind", string(fault.KindOf(o.Err)), "error", o.Err, "retry_in_ms", o.Delay.Milliseconds())
			case o.Verdict == DeadLetter:
				l.Error("step failed; message dead-lettered", "reason", o.Reason, "error", o.Description, "remedy", o.Remedy)
			}
			return o, err
		}
	}
}
