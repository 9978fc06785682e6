package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/fault"
)

// Failure is a failure the router gives up on, as the dead letter and its
// alert describe it.
type Failure struct {
	Kind        fault.Kind
	Reason      string // the kind, and the service's error code when there is one
	Description string // what went wrong
	Remedy      string // what a person should change before replaying
	Attempts    int
}

// Alerter builds the alerts a failure raises (e.g. step.failed); nil
// raises none.
type Alerter func(m *Message, f Failure) []events.Event

// DeadLetters ends every failure that reaches it: the message goes to the
// dead-letter queue with a reason a person can act on, and alert's events
// are published with it. What may pass if retried never gets here before the
// retry middleware has used up its attempts.
func DeadLetters(alert Alerter) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			o, err := next(ctx, m)
			if err == nil {
				return o, nil
			}
			f := Failure{Kind: fault.KindOf(err), Description: events.Text(err.Error(), 4000),
				Remedy: events.Text(fault.RemedyOf(err), 4000), Attempts: m.Attempt}
			f.Reason = string(f.Kind)
			var fe *fault.Error
			if errors.As(err, &fe) && fe.Code != "" {
				f.Reason += ": " + fe.Code
			}
			if f.Kind.Retryable() {
				f.Description = fmt.Sprintf("gave up after %d attempts: %s", m.Attempt, f.Description)
			}
			o = Outcome{Verdict: DeadLetter, Reason: f.Reason, Description: f.Description, Remedy: f.Remedy, Err: err}
			if alert != nil {
				o.Alerts = alert(m, f)
			}
			return o, nil
		}
	}
}
