package chain

import (
	"context"
	"fmt"

	"github.com/ctsync/ctsync/pkg/fault"
)

// AllowedTenants refuses a message whose handler would touch a tenant that
// allowed rejects, before the handler makes any Graph call: the message is
// dead-lettered as denied, naming the tenant. It guards what reaches the
// queues without the intake's check (an event posted to a queue directly, a
// replay). touched names the tenants a message's handler calls Graph in.
func AllowedTenants(allowed func(tenantID string) bool, touched func(*Message) []string) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			for _, tenant := range touched(m) {
				if !allowed(tenant) {
					return Outcome{}, &fault.Error{Kind: fault.Denied, Op: m.Route.Step, Tenant: tenant, Code: "TenantNotAllowed",
						Message: fmt.Sprintf("tenant %s is not in ctsync's allow-list; nothing was done", tenant),
						Remedy:  fmt.Sprintf("if ctsync may manage tenant %s, add it to CTSYNC_ALLOWED_TENANTS (or CTSYNC_ALLOWED_TENANTS_FILE), then replay the dead letter", tenant)}
				}
			}
			return next(ctx, m)
		}
	}
}
