package steps

import (
	"context"
	"strings"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/store"
)

// ensurePartner returns dir's partner configuration for the other tenant,
// creating it when absent. A conflict on create means it exists after all
// (created concurrently, or by an earlier attempt whose answer was lost).
// Whether it existed is remembered in the pair's record first.
func (s *Steps) ensurePartner(ctx context.Context, in events.Onboarding, dir entra.Directory, other string) (entra.Partner, error) {
	p, err := dir.GetPartner(ctx, other)
	if err != nil && !fault.Is(err, fault.NotFound) {
		return entra.Partner{}, err
	}
	existed := err == nil
	if rerr := s.remember(ctx, in, func(f *store.Found) bool {
		if strings.EqualFold(dir.TenantID(), in.TargetTenantID) {
			return once(&f.TargetPartnerExisted, existed)
		}
		return once(&f.SourcePartnerExisted, existed)
	}); rerr != nil {
		return entra.Partner{}, rerr
	}
	if existed {
		note.Add(ctx, "partner configuration for %s already present", other)
		return p, nil
	}
	p, err = dir.CreatePartner(ctx, other)
	switch {
	case err == nil:
		note.Add(ctx, "created partner configuration for %s", other)
		return p, nil
	case fault.Is(err, fault.Conflict):
		note.Add(ctx, "partner configuration for %s exists (conflict on create)", other)
		p, err = dir.GetPartner(ctx, other)
		if fault.Is(err, fault.NotFound) {
			return entra.Partner{}, s.notYet(string(entra.OpGetPartner), "partner configuration for %s exists but is not readable yet", other)
		}
		return p, err
	}
	return entra.Partner{}, err
}

// ensureAutoRedeem turns on automatic invitation redemption toward the other
// tenant, inbound or outbound, keeping the other direction as it is.
func (s *Steps) ensureAutoRedeem(ctx context.Context, in events.Onboarding, dir entra.Directory, other string, inbound bool) error {
	p, err := s.ensurePartner(ctx, in, dir, other)
	if err != nil {
		return err
	}
	direction, current := "outbound", p.Outbound
	if inbound {
		direction, current = "inbound", p.Inbound
	}
	if err := s.remember(ctx, in, func(f *store.Found) bool {
		if inbound {
			return once(&f.TargetInboundAutoRedeem, isTrue(current))
		}
		return once(&f.SourceOutboundAutoRedeem, isTrue(current))
	}); err != nil {
		return err
	}
	if isTrue(current) {
		note.Add(ctx, "%s automatic redemption already on", direction)
		return nil
	}
	consent := entra.AutoConsent{Inbound: p.Inbound, Outbound: p.Outbound}
	if inbound {
		consent.Inbound = ptr(true)
	} else {
		consent.Outbound = ptr(true)
	}
	err = dir.SetAutomaticUserConsent(ctx, other, consent)
	if fault.Is(err, fault.NotFound) {
		// The partner vanished between read and update: create it, update again.
		if _, err = s.ensurePartner(ctx, in, dir, other); err != nil {
			return err
		}
		err = dir.SetAutomaticUserConsent(ctx, other, consent)
	}
	if err != nil {
		return err
	}
	note.Add(ctx, "turned %s automatic redemption on", direction)
	return nil
}
