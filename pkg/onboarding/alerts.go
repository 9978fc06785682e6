package onboarding

import (
	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
)

// StepFailed is the alert a failure of a step about a tenant pair raises;
// the router publishes it with the dead letter.
func StepFailed(m *chain.Message, f chain.Failure) []events.Event {
	in, ok := events.OnboardingOf(m.Event)
	if !ok || in.OnboardingID == "" || in.SourceTenantID == "" || len(in.Users) == 0 {
		return nil
	}
	ev, err := events.New(events.StepFailed, events.StepFailure{Onboarding: *in, Step: m.Route.Step, Category: string(f.Kind),
		Reason: f.Description, Remedy: f.Remedy, Attempts: f.Attempts, FailedEventID: events.Text(m.Event.ID, 256), FailedEventType: string(m.Event.Type)})
	if err != nil {
		return nil
	}
	return []events.Event{ev}
}
