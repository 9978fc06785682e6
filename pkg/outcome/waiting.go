package outcome

import (
	"context"
	"time"
)

// WaitState is what the router knows about a message's wait when it calls
// the handler: since when the handler has been answering "not yet", and
// whether that wait is over (the replication window has passed). A handler
// that finds the awaited object still missing once the wait is over decides
// what the absence means — an object read before and gone since is drift —
// instead of waiting again; a handler that waits again anyway fails as not
// found.
type WaitState struct {
	Since time.Time
	Over  bool
}

type waitStateKey struct{}

// WithWaitState returns ctx carrying ws for the handler.
func WithWaitState(ctx context.Context, ws WaitState) context.Context {
	return context.WithValue(ctx, waitStateKey{}, ws)
}

// WaitStateOf returns the wait state the router passed; zero when the
// message was not waiting.
func WaitStateOf(ctx context.Context) WaitState {
	ws, _ := ctx.Value(waitStateKey{}).(WaitState)
	return ws
}
