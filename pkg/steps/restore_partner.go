package steps

import (
	"context"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/store"
)

// RestoreTargetPartner handles the target's partner configuration for the
// source once its identity synchronization policy is gone (PartnerFate).
func (s *Steps) RestoreTargetPartner(ctx context.Context, in events.Offboarding) (outcome.Result, error) {
	if err := s.restorePartner(ctx, in, true); err != nil {
		return outcome.Result{}, err
	}
	return emit(events.TargetPartnerRestored, in)
}

// RestoreSourcePartner handles the source's partner configuration for the
// target the same way, last; then the pair is no longer managed: its
// record forgets the desired configuration and what the onboarding found
// (a later onboarding observes afresh), and keeps the configuration app
// as retired, so the harvester collects its logs once more and drops it.
func (s *Steps) RestoreSourcePartner(ctx context.Context, in events.Offboarding) (outcome.Result, error) {
	if err := s.restorePartner(ctx, in, false); err != nil {
		return outcome.Result{}, err
	}
	pair, _, err := s.intents.GetPair(ctx, in.SourceTenantID, in.TargetTenantID)
	if err != nil {
		return outcome.Result{}, err
	}
	if pair.Found != nil || pair.Desired != nil || (in.ServicePrincipalID != "" && !retired(pair, in.ServicePrincipalID)) {
		if _, err := s.intents.UpdatePair(ctx, in.SourceTenantID, in.TargetTenantID, func(p *store.Pair) error {
			p.Found, p.Desired = nil, nil
			if in.ServicePrincipalID != "" && !retired(*p, in.ServicePrincipalID) {
				p.Retired = append(p.Retired, store.Retired{ServicePrincipalID: in.ServicePrincipalID, At: s.now().UTC().Truncate(time.Millisecond)})
			}
			return nil
		}); err != nil {
			return outcome.Result{}, err
		}
	}
	note.Add(ctx, "the pair is no longer managed by ctsync")
	return emit(events.OffboardingCompleted, in)
}

func retired(p store.Pair, spID string) bool {
	for _, r := range p.Retired {
		if r.ServicePrincipalID == spID {
			return true
		}
	}
	return false
}

func (s *Steps) restorePartner(ctx context.Context, in events.Offboarding, inbound bool) error {
	tenant, other, side := in.SourceTenantID, in.TargetTenantID, "source"
	if inbound {
		tenant, other, side = in.TargetTenantID, in.SourceTenantID, "target"
	}
	if !in.RemovePartners {
		note.Add(ctx, "%s partner configuration kept (--remove-partners not given)", side)
		return nil
	}
	dir, err := s.dirs.Tenant(ctx, tenant)
	if err != nil {
		return err
	}
	pair, _, err := s.intents.GetPair(ctx, in.SourceTenantID, in.TargetTenantID)
	if err != nil {
		return err
	}
	current, err := fault.Optional(dir.GetPartner(ctx, other))
	if err != nil {
		return err
	}
	if current == nil {
		note.Add(ctx, "no %s partner configuration", side)
		return nil
	}
	sync, err := fault.Optional(dir.GetIdentitySync(ctx, other))
	if err != nil {
		return err
	}
	fate := PartnerFate(pair.Found, inbound, in.RemovePartners, current, sync != nil)
	switch fate.Action {
	case FateDelete:
		if err := dir.DeletePartner(ctx, other); err != nil && !fault.Is(err, fault.NotFound) {
			return err
		}
		note.Add(ctx, "deleted the %s partner configuration for %s (%s)", side, other, fate.Why)
	case FateRevert:
		if err := dir.SetAutomaticUserConsent(ctx, other, fate.Consent); err != nil {
			return err
		}
		note.Add(ctx, "turned the %s partner configuration's automatic redemption off again, keeping its other settings (%s)", side, fate.Why)
	default:
		note.Add(ctx, "%s partner configuration: %s (%s)", side, fate.Action, fate.Why)
	}
	return nil
}
