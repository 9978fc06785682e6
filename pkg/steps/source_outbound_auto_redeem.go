package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
)

// EnsureSourceOutboundAutoRedeem suppresses consent prompts for users going
// to the target tenant (step 5).
func (s *Steps) EnsureSourceOutboundAutoRedeem(ctx context.Context, in events.Onboarding) ([]events.Event, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.ensureAutoRedeem(ctx, source, in.TargetTenantID, false); err != nil {
		return nil, err
	}
	return outcome(events.SourceAutoRedeemEnsured, in)
}
