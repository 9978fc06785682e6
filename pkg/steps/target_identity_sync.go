package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/store"
)

// EnsureTargetIdentitySync lets the target tenant accept users synchronized
// from the source tenant: identitySynchronization with
// userSyncInbound.isSyncAllowed = true (step 2). The policy is created with
// PUT; an existing one is updated with PATCH only when sync is not allowed,
// so a display name someone chose is kept. Both troubleshooting cases of the
// article are handled: PUT answering Request_MultipleObjectsWithSameKeyValue
// (it exists: read and PATCH) and PATCH answering Directory_ObjectNotFound
// (it does not: PUT).
func (s *Steps) EnsureTargetIdentitySync(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	target, err := s.target(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	want := entra.IdentitySync{DisplayName: in.ConfigurationName, SyncAllowed: true}
	current, err := target.GetIdentitySync(ctx, in.SourceTenantID)
	if err == nil || fault.Is(err, fault.NotFound) {
		existed := err == nil
		if rerr := s.remember(ctx, in, func(f *store.Found) bool {
			learned := once(&f.TargetIdentitySyncExisted, existed)
			return once(&f.TargetIdentitySyncAllowed, existed && current.SyncAllowed) || learned
		}); rerr != nil {
			return outcome.Result{}, rerr
		}
	}
	switch {
	case err == nil && current.SyncAllowed:
		note.Add(ctx, "user synchronization from %s already allowed", in.SourceTenantID)
	case err == nil:
		if err := s.allowIdentitySync(ctx, target, in.SourceTenantID, entra.IdentitySync{DisplayName: current.DisplayName, SyncAllowed: true}, want); err != nil {
			return outcome.Result{}, err
		}
	case fault.Is(err, fault.NotFound):
		if err := s.createIdentitySync(ctx, target, in.SourceTenantID, want); err != nil {
			return outcome.Result{}, err
		}
	default:
		return outcome.Result{}, err
	}
	return emit(events.TargetIdentitySyncEnsured, in)
}

func (s *Steps) createIdentitySync(ctx context.Context, target entra.Directory, source string, want entra.IdentitySync) error {
	err := target.CreateIdentitySync(ctx, source, want)
	if fault.Is(err, fault.Conflict) {
		current, gerr := target.GetIdentitySync(ctx, source)
		if gerr != nil {
			return gerr
		}
		if current.SyncAllowed {
			note.Add(ctx, "identity synchronization policy already present and allowing sync")
			return nil
		}
		return s.allowIdentitySync(ctx, target, source, entra.IdentitySync{DisplayName: current.DisplayName, SyncAllowed: true}, want)
	}
	if err != nil {
		return err
	}
	note.Add(ctx, "created identity synchronization policy %q allowing sync", want.DisplayName)
	return nil
}

func (s *Steps) allowIdentitySync(ctx context.Context, target entra.Directory, source string, update, create entra.IdentitySync) error {
	err := target.UpdateIdentitySync(ctx, source, update)
	if fault.Is(err, fault.NotFound) {
		note.Add(ctx, "policy missing on update (Directory_ObjectNotFound); creating it")
		err = target.CreateIdentitySync(ctx, source, create)
	}
	if err != nil {
		return err
	}
	note.Add(ctx, "allowed user synchronization from %s", source)
	return nil
}
