package graph

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTenantWrites and DefaultTenantWriteWindow are Graph's documented
// directory write limit per app per tenant: 3,000 writes per 2.5 minutes.
const (
	DefaultTenantWrites      = 3000
	DefaultTenantWriteWindow = 150 * time.Second
)

// Pacer keeps each tenant's writes (POST, PATCH, PUT, DELETE) under Graph's
// per-app, per-tenant write limit, a sliding window, so that a hub tenant
// that is the source of a thousand pairs is written to at the rate Graph
// allows instead of being answered 429. A write over the budget is not
// sent: it fails at once with *PacedError saying when the budget has room,
// and the router hands the message back for then without counting an
// attempt (see chain.Pacing). After a 429 no write to that tenant is sent
// until its Retry-After has passed.
//
// A write counts from when its answer arrived (it reached Graph before
// then), so the pacer's window never closes before Graph's does. Each
// process paces its own writes: several processes sharing an app share its
// limit, and the 429s that may follow are honoured the same way.
type Pacer struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantPace
}

type tenantPace struct {
	done      []time.Time // when each write in the window was answered, oldest first
	inFlight  int
	until     time.Time // no write before this (a 429's Retry-After)
	throttles int       // 429s seen, sent along as x-ctsync-throttles-seen
}

// NewPacer returns a pacer of limit writes per window per tenant; a limit
// below zero paces nothing.
func NewPacer(limit int, window time.Duration) *Pacer {
	if limit == 0 {
		limit = DefaultTenantWrites
	}
	if window <= 0 {
		window = DefaultTenantWriteWindow
	}
	return &Pacer{limit: limit, window: window, now: time.Now, tenants: map[string]*tenantPace{}}
}

// PacedError is a write the pacer did not send: the tenant's budget is
// spent, or Graph asked to wait. Wait is when to try again.
type PacedError struct {
	Tenant string
	Wait   time.Duration
	Reason string
}

func (e *PacedError) Error() string {
	return fmt.Sprintf("write to tenant %s held back for %s: %s", e.Tenant, e.Wait.Round(time.Millisecond), e.Reason)
}

// Paced reports whether err is a write the pacer held back, and for how long.
func Paced(err error) (time.Duration, bool) {
	var pe *PacedError
	if errors.As(err, &pe) {
		return pe.Wait, true
	}
	return 0, false
}

func (p *Pacer) state(tenant string) *tenantPace {
	t, ok := p.tenants[tenant]
	if !ok {
		t = &tenantPace{}
		p.tenants[tenant] = t
	}
	return t
}

// Wait says how long a write to tenant would be held back now (zero: it
// would go). It reserves nothing.
func (p *Pacer) Wait(tenant string) time.Duration {
	if p == nil || p.limit < 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	wait, _ := p.waitLocked(p.state(strings.ToLower(tenant)), p.now())
	return wait
}

func (p *Pacer) waitLocked(t *tenantPace, now time.Time) (time.Duration, string) {
	i := 0
	for i < len(t.done) && now.Sub(t.done[i]) >= p.window {
		i++
	}
	t.done = t.done[i:]
	switch {
	case now.Before(t.until):
		return t.until.Sub(now), "Graph answered 429; waiting out its Retry-After"
	case len(t.done)+t.inFlight < p.limit:
		return 0, ""
	case len(t.done) > 0:
		return t.done[0].Add(p.window).Sub(now), fmt.Sprintf("%d writes in %s, the tenant's write budget", p.limit, p.window)
	}
	// Every slot is a write still in flight: look again shortly.
	return 100 * time.Millisecond, fmt.Sprintf("%d writes in flight, the tenant's write budget", p.limit)
}

// reserve takes a write slot for tenant, or says how long to wait. It
// returns how many 429s of the tenant the pacer has seen.
func (p *Pacer) reserve(tenant string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.state(tenant)
	if wait, why := p.waitLocked(t, p.now()); wait > 0 {
		return t.throttles, &PacedError{Tenant: tenant, Wait: wait, Reason: why}
	}
	t.inFlight++
	return t.throttles, nil
}

// answered completes a reservation: the write counts from now, unless Graph
// refused it with 429 (not counted), which holds the tenant's writes back
// for its Retry-After.
func (p *Pacer) answered(tenant string, resp *http.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.state(tenant)
	t.inFlight--
	now := p.now()
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.done = append(t.done, now)
		return
	}
	t.throttles++
	wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now)
	if !ok {
		wait = time.Second // no Retry-After: Graph documents backing off
	}
	if until := now.Add(wait); until.After(t.until) {
		t.until = until
	}
}

// pacedTransport paces one tenant's writes through p.
type pacedTransport struct {
	tenant string
	pacer  *Pacer
	next   http.RoundTripper
}

func (pt *pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet || req.Method == http.MethodHead || pt.pacer.limit < 0 {
		return pt.next.RoundTrip(req)
	}
	seen, err := pt.pacer.reserve(pt.tenant)
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("x-ctsync-throttles-seen", strconv.Itoa(seen))
	resp, err := pt.next.RoundTrip(req)
	pt.pacer.answered(pt.tenant, resp)
	return resp, err
}
