package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
)

// EnsureTargetPartner makes the target tenant's cross-tenant access policy
// know the source tenant as a partner (step 1 of the article).
func (s *Steps) EnsureTargetPartner(ctx context.Context, in events.Onboarding) ([]events.Event, error) {
	target, err := s.target(ctx, in)
	if err != nil {
		return nil, err
	}
	if _, err := s.ensurePartner(ctx, target, in.SourceTenantID); err != nil {
		return nil, err
	}
	return outcome(events.TargetPartnerEnsured, in)
}
