// Package note lets a handler say, in a few words, what it found or changed
// ("created", "already present", "waiting for replication"), without knowing
// who listens. The chain's progress middleware collects the notes for
// `ctsync status` and the progress lines of `ctsync onboard --wait`.
package note

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

type key struct{}

// Notes collects the notes of one handler run.
type Notes struct {
	mu    sync.Mutex
	lines []string
}

// With returns a context that collects notes, and the collector.
func With(ctx context.Context) (context.Context, *Notes) {
	n := &Notes{}
	return context.WithValue(ctx, key{}, n), n
}

// Add records a note if ctx collects notes; otherwise it does nothing.
func Add(ctx context.Context, format string, args ...any) {
	if n, ok := ctx.Value(key{}).(*Notes); ok {
		n.mu.Lock()
		n.lines = append(n.lines, fmt.Sprintf(format, args...))
		n.mu.Unlock()
	}
}

// String joins the notes with "; ".
func (n *Notes) String() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "; ")
}
