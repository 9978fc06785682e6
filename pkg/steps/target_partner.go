package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// EnsureTargetPartner makes the target tenant's cross-tenant access policy
// know the source tenant as a partner (step 1 of the article). Being the
// first step to write, it first signs in to both tenants.
func (s *Steps) EnsureTargetPartner(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	if err := s.signInToBoth(ctx, in); err != nil {
		return outcome.Result{}, err
	}
	target, err := s.target(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	if _, err := s.ensurePartner(ctx, in, target, in.SourceTenantID); err != nil {
		return outcome.Result{}, err
	}
	return emit(events.TargetPartnerEnsured, in)
}
