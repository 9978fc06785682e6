package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
)

// signInToBoth obtains a token in the target and in the source tenant. The
// first step runs it before its first write: a mistyped tenant id, or a
// tenant where the ctsync application was never consented, must stop the
// onboarding before a partner configuration or policy lands in the other
// tenant. The errors name the tenant and say what to fix.
func (s *Steps) signInToBoth(ctx context.Context, in events.Onboarding) error {
	for _, tenantID := range []string{in.TargetTenantID, in.SourceTenantID} {
		dir, err := s.dirs.Tenant(ctx, tenantID)
		if err != nil {
			return err
		}
		if err := dir.SignIn(ctx); err != nil {
			return err
		}
	}
	return nil
}
