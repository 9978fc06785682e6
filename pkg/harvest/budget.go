package harvest

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Budget spaces requests per tenant: at most Requests in any Window, shared
// by every configuration of that tenant (Graph's reports limit is per app per
// tenant). A throttled answer pauses the whole tenant for its Retry-After.
type Budget struct {
	Requests int
	Window   time.Duration

	mu      sync.Mutex
	tenants map[string]*tenantBudget
	now     func() time.Time
}

type tenantBudget struct {
	sent        []time.Time
	pausedUntil time.Time
}

// NewBudget allows requests per window per tenant; requests <= 0 means no
// limit other than the pauses throttled answers ask for.
func NewBudget(requests int, window time.Duration) *Budget {
	return &Budget{Requests: requests, Window: window, tenants: map[string]*tenantBudget{}, now: time.Now}
}

// Wait blocks until tenant may send a request, and counts it.
func (b *Budget) Wait(ctx context.Context, tenant string) error {
	if b == nil {
		return nil
	}
	for {
		wait := b.reserve(strings.ToLower(tenant))
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (b *Budget) reserve(tenant string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	tb := b.tenants[tenant]
	if tb == nil {
		tb = &tenantBudget{}
		b.tenants[tenant] = tb
	}
	now := b.now()
	if now.Before(tb.pausedUntil) {
		return tb.pausedUntil.Sub(now)
	}
	if b.Requests <= 0 {
		return 0
	}
	i := 0
	for i < len(tb.sent) && now.Sub(tb.sent[i]) >= b.Window {
		i++
	}
	tb.sent = tb.sent[i:]
	if len(tb.sent) >= b.Requests {
		return tb.sent[0].Add(b.Window).Sub(now)
	}
	tb.sent = append(tb.sent, now)
	return 0
}

// Pause stops every request to tenant for d (a 429's Retry-After).
func (b *Budget) Pause(tenant string, d time.Duration) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	tenant = strings.ToLower(tenant)
	tb := b.tenants[tenant]
	if tb == nil {
		tb = &tenantBudget{}
		b.tenants[tenant] = tb
	}
	if until := b.now().Add(d); until.After(tb.pausedUntil) {
		tb.pausedUntil = until
	}
}
