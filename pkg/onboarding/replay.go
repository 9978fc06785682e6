package onboarding

import (
	"context"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/store"
)

// DeadLetters is a dead-letter queue that can send a message back.
type DeadLetters interface {
	Resubmit(ctx context.Context, seq int64, body []byte) error
}

// Replay sends a dead letter back to its queue, once a person fixed what
// made it fail: as a fresh message (its attempts and its wait forgotten,
// see events.Fresh), and with its onboarding shown as resumed at once, not
// as failed until the step runs again.
func Replay(ctx context.Context, dlq DeadLetters, progress store.Progress, dl bus.DeadLetter) error {
	if err := dlq.Resubmit(ctx, dl.Seq, events.Fresh(dl.Body)); err != nil {
		return err
	}
	ev, err := events.Parse(dl.Body)
	if err != nil {
		return nil // an unparseable event names no onboarding to show as resumed
	}
	in, ok := events.OnboardingOf(ev)
	if !ok || in.OnboardingID == "" {
		return nil
	}
	return progress.SaveOnboarding(ctx, store.Onboarding{ID: in.OnboardingID, State: store.StateRunning, Step: dl.Queue,
		Detail: "replayed from the dead-letter queue; waiting to run", UpdatedAt: time.Now()})
}
