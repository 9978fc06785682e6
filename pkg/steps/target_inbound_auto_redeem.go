package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// EnsureTargetInboundAutoRedeem makes the target tenant redeem invitations
// from the source tenant automatically (step 3): without it the job fails
// with AzureDirectoryB2BManagementPolicyCheckFailure.
func (s *Steps) EnsureTargetInboundAutoRedeem(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	target, err := s.target(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	if err := s.ensureAutoRedeem(ctx, in, target, in.SourceTenantID, true); err != nil {
		return outcome.Result{}, err
	}
	return emit(events.TargetAutoRedeemEnsured, in)
}
