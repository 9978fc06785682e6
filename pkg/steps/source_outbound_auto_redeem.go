package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// EnsureSourceOutboundAutoRedeem suppresses consent prompts for users going
// to the target tenant (step 5).
func (s *Steps) EnsureSourceOutboundAutoRedeem(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	if err := s.ensureAutoRedeem(ctx, in, source, in.TargetTenantID, false); err != nil {
		return outcome.Result{}, err
	}
	return emit(events.SourceAutoRedeemEnsured, in)
}
