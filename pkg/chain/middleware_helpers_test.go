package chain_test

import (
	"context"
	"testing"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
)

// message is a message of the example onboarding request at attempt n.
func message(t *testing.T, attempt int) *chain.Message {
	t.Helper()
	return &chain.Message{Event: example(t, events.OnboardingRequested), Route: chain.Route{Step: "first"}, Attempt: attempt}
}

// answering is a handler that answers o, err.
func answering(o chain.Outcome, err error) chain.HandlerFunc {
	return func(context.Context, *chain.Message) (chain.Outcome, error) { return o, err }
}
