package graphsim

import (
	"sync"
	"time"
)

// limiter is a sliding-window request log per key, the shape of Graph's
// "N requests per window per app per tenant" limits.
type limiter struct {
	mu   sync.Mutex
	hits map[string][]time.Time
}

func newLimiter() *limiter { return &limiter{hits: map[string][]time.Time{}} }

// take records a request under key and returns zero, or returns how long to
// wait when the window already holds limit requests (nothing is recorded).
func (l *limiter) take(key string, limit int, window time.Duration, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hits[key]
	i := 0
	for i < len(h) && now.Sub(h[i]) >= window {
		i++
	}
	h = h[i:]
	if len(h) >= limit {
		l.hits[key] = h
		return h[0].Add(window).Sub(now)
	}
	l.hits[key] = append(h, now)
	return 0
}
