package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
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
	current, err := readIdentitySync(ctx, target, in.SourceTenantID)
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

// readIdentitySync reads dir's identity synchronization policy for the
// other tenant; nil when there is none.
func readIdentitySync(ctx context.Context, dir entra.Directory, other string) (*entra.IdentitySync, error) {
	cur, err := dir.GetIdentitySync(ctx, other)
	if fault.Is(err, fault.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &cur, nil
}

// readPartner reads dir's partner configuration for the other tenant; nil
// when there is none.
func readPartner(ctx context.Context, dir entra.Directory, other string) (*entra.Partner, error) {
	p, err := dir.GetPartner(ctx, other)
	if fault.Is(err, fault.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}
