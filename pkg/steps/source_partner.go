package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
)

// EnsureSourcePartner makes the source tenant's cross-tenant access policy
// know the target tenant as a partner (step 4).
func (s *Steps) EnsureSourcePartner(ctx context.Context, in events.Onboarding) ([]events.Event, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return nil, err
	}
	if _, err := s.ensurePartner(ctx, source, in.TargetTenantID); err != nil {
		return nil, err
	}
	return outcome(events.SourcePartnerEnsured, in)
}
