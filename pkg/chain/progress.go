package chain

import (
	"context"
	"time"

	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/store"
)

// Recorder turns a handler run into progress records for people (`ctsync
// status`, `onboard --wait`, the HTTP status API); the wiring supplies one.
type Recorder interface {
	Record(m *Message, o Outcome) []store.Update
}

// Progress collects what the handler said it found or changed (package
// note) and how long it took, and attaches the recorder's progress to the
// outcome; the router commits it with the settlement. The store is the one
// place progress goes: whoever needs it reads it there.
func Progress(rec Recorder, now func() time.Time) Middleware {
	if now == nil {
		now = time.Now
	}
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			ctx, notes := note.With(ctx)
			start := now()
			o, err := next(ctx, m)
			if err != nil {
				return o, err
			}
			o.Note, o.Took = notes.String(), now().Sub(start)
			if rec != nil {
				o.Progress = append(o.Progress, rec.Record(m, o)...)
			}
			return o, nil
		}
	}
}
