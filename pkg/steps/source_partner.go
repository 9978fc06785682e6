package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// EnsureSourcePartner makes the source tenant's cross-tenant access policy
// know the target tenant as a partner (step 4).
func (s *Steps) EnsureSourcePartner(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	if _, err := s.ensurePartner(ctx, in, source, in.TargetTenantID); err != nil {
		return outcome.Result{}, err
	}
	return emit(events.SourcePartnerEnsured, in)
}
