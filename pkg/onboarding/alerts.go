package onboarding

import (
	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
)

// StepFailed is the alert a failure of a step about a tenant pair raises;
// the router publishes it with the dead letter.
// An alert that could not be delivered raises none: its failure is in the
// dead-letter queue, and alerting about it would loop.
func StepFailed(m *chain.Message, f chain.Failure) []events.Event {
	if isAlert(m.Event.Type) {
		return nil
	}
	in, ok := events.OnboardingOf(m.Event)
	if !ok || in.OnboardingID == "" || in.SourceTenantID == "" {
		return nil
	}
	ev, err := events.New(events.StepFailed, events.StepFailure{Onboarding: *in, Step: m.Route.Step, Category: string(f.Kind),
		Reason: f.Description, Remedy: f.Remedy, Attempts: f.Attempts, FailedEventID: events.Text(m.Event.ID, 256), FailedEventType: string(m.Event.Type)})
	if err != nil {
		return nil
	}
	return []events.Event{ev}
}

// alertTypes are the events the notify route delivers; they touch no tenant.
var alertTypes = []events.Type{events.SyncSteady, events.SyncQuarantined, events.ProvisioningFailed, events.StepFailed, events.DriftDetected,
	events.OffboardingCompleted}

func isAlert(t events.Type) bool {
	for _, a := range alertTypes {
		if a == t {
			return true
		}
	}
	return false
}

// TenantsTouched names the tenants a message's handler will call Graph in:
// those its event names, unless it is an alert, which is only delivered.
// The allow-list middleware checks these.
func TenantsTouched(m *chain.Message) []string {
	if isAlert(m.Event.Type) {
		return nil
	}
	return events.TenantsOf(m.Event)
}
