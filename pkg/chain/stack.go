package chain

import (
	"log/slog"
	"time"
)

// Stack is the router's standard middleware, configured once per host.
type Stack struct {
	Policy Policy
	// ReplicationWindow bounds waits (see Waits). Default 3 minutes.
	ReplicationWindow time.Duration
	// HandlerTimeout bounds one handler run. Default 4 minutes.
	HandlerTimeout time.Duration
	Recorder       Recorder
	Alert          Alerter
	// Handled, when set, de-duplicates deliveries (see Deduplicate).
	Handled HandledLookup
	// AllowTenant, when set, is the tenant allow-list, checked against the
	// tenants TenantsTouched names (see AllowedTenants).
	AllowTenant    func(tenantID string) bool
	TenantsTouched func(*Message) []string
	// PerTenant, when positive, caps the handlers running at once against
	// one tenant of those TenantsTouched names (see TenantLimit).
	PerTenant int
	// WriteWait and Paced, when set, pace writes per tenant (see Pacing).
	WriteWait func(tenant string) time.Duration
	Paced     func(error) (time.Duration, bool)
	Log       *slog.Logger
	Now       func() time.Time
}

// Middleware returns the stack, outermost first. The order matters: a wait
// that outlives the window becomes a not-found failure (Waits) that the
// retry middleware leaves to the dead-letter middleware, and progress and
// logs see the final verdict.
func (s Stack) Middleware() []Middleware {
	if s.ReplicationWindow <= 0 {
		s.ReplicationWindow = 3 * time.Minute
	}
	if s.HandlerTimeout <= 0 {
		s.HandlerTimeout = 4 * time.Minute
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	stack := []Middleware{Logging(s.Log)}
	if s.Handled != nil {
		stack = append(stack, Deduplicate(s.Handled, s.Log))
	}
	stack = append(stack, Progress(s.Recorder, s.Now), DeadLetters(s.Alert))
	if s.AllowTenant != nil && s.TenantsTouched != nil {
		stack = append(stack, AllowedTenants(s.AllowTenant, s.TenantsTouched))
	}
	if s.PerTenant > 0 && s.TenantsTouched != nil {
		stack = append(stack, TenantLimit(s.PerTenant, s.TenantsTouched))
	}
	stack = append(stack, Retry(s.Policy))
	if s.WriteWait != nil && s.Paced != nil && s.TenantsTouched != nil {
		// Inside Retry, so a held-back write never reaches it as a failure.
		stack = append(stack, Pacing(s.TenantsTouched, s.WriteWait, s.Paced))
	}
	return append(stack,
		Waits(s.ReplicationWindow, s.Now),
		Timeout(s.HandlerTimeout),
		Recoverer(s.Log),
	)
}
