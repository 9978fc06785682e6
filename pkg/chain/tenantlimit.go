package chain

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// TenantLimit caps how many handlers run at once against one tenant in this
// process, so a thousand pairs sharing a hub tenant do not flood it while
// the workers have other tenants' work to do. A message whose tenants are
// at their cap is handed back with a short delay — not run, not counted,
// not recorded — and the worker moves on. touched names the tenants a
// message's handler calls Graph in.
func TenantLimit(perTenant int, touched func(*Message) []string) Middleware {
	var mu sync.Mutex
	running := map[string]int{}
	acquire := func(tenants []string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, t := range tenants {
			if running[t] >= perTenant {
				return false
			}
		}
		for _, t := range tenants {
			running[t]++
		}
		return true
	}
	release := func(tenants []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, t := range tenants {
			if running[t]--; running[t] <= 0 {
				delete(running, t)
			}
		}
	}
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			tenants := unique(touched(m))
			if len(tenants) == 0 {
				return next(ctx, m)
			}
			if !acquire(tenants) {
				delay := 200*time.Millisecond + time.Duration(rand.Int64N(int64(200*time.Millisecond)))
				return Outcome{Verdict: Requeue, Delay: delay, Deferred: true, WaitingSince: m.WaitingSince}, nil
			}
			defer release(tenants)
			return next(ctx, m)
		}
	}
}

func unique(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
