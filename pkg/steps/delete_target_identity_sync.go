package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// DeleteTargetIdentitySync takes the target's identity synchronization
// policy for the source back to what the onboarding found: deleted when
// ctsync created it (Graph refuses to delete a partner configuration
// before it), user synchronization turned off again when ctsync only
// turned it on, untouched otherwise (IdentitySyncFate).
func (s *Steps) DeleteTargetIdentitySync(ctx context.Context, in events.Offboarding) (outcome.Result, error) {
	target, err := s.dirs.Tenant(ctx, in.TargetTenantID)
	if err != nil {
		return outcome.Result{}, err
	}
	pair, _, err := s.intents.GetPair(ctx, in.SourceTenantID, in.TargetTenantID)
	if err != nil {
		return outcome.Result{}, err
	}
	current, err := fault.Optional(target.GetIdentitySync(ctx, in.SourceTenantID))
	if err != nil {
		return outcome.Result{}, err
	}
	fate := IdentitySyncFate(pair.Found, current)
	switch fate.Action {
	case FateDelete:
		if err := target.DeleteIdentitySync(ctx, in.SourceTenantID); err != nil && !fault.Is(err, fault.NotFound) {
			return outcome.Result{}, err
		}
		note.Add(ctx, "deleted the identity synchronization policy (%s)", fate.Why)
	case FateRevert:
		if err := target.UpdateIdentitySync(ctx, in.SourceTenantID, fate.Sync); err != nil {
			return outcome.Result{}, err
		}
		note.Add(ctx, "turned user synchronization from %s off again (%s)", in.SourceTenantID, fate.Why)
	default:
		note.Add(ctx, "identity synchronization policy: %s (%s)", fate.Action, fate.Why)
	}
	return emit(events.TargetIdentitySyncDeleted, in)
}
