package wire

import (
	"fmt"

	"github.com/ctsync/ctsync/events"
)

// OnboardingRequest reads the body automation posts to start an
// onboarding: an onboarding.requested CloudEvent (structured mode), valid
// field by field. Errors name the field.
func OnboardingRequest(body []byte) (events.Event, error) {
	ev, err := events.Parse(body)
	if err != nil {
		return events.Event{}, err
	}
	if ev.Type != events.OnboardingRequested {
		return events.Event{}, fmt.Errorf("type: only %s can be posted here, got %s", events.OnboardingRequested, ev.Type)
	}
	return ev, nil
}
