package plan

import (
	"context"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

// AccountsStay is what every offboarding preview says first: taking the
// configuration apart removes none of the accounts it synchronized.
const AccountsStay = "Synchronized accounts stay in the target: deleting the job and the configuration removes none of them. " +
	"To remove them first, as Microsoft documents: unassign every user and group from the configuration (or apply a file " +
	"that assigns nobody), keep inbound synchronization on in the target while the job's next cycles soft-delete them " +
	"(approve with ctsync approve-deletes if the delete threshold holds them), then offboard."

// Offboard is what an offboarding asks for.
type Offboard struct {
	SourceTenantID, TargetTenantID, Name string
	RemovePartners                       bool
	// Found is what the onboarding found before it changed anything (the
	// pair's record); nil when ctsync has no record.
	Found *store.Found
}

// Offboarding previews what offboarding the pair deletes and puts back, in
// the order the steps do it, reading both tenants; it writes nothing. A
// preview with no change means a second offboarding would make no write.
func (pl Planner) Offboarding(ctx context.Context, r Offboard) (Pair, error) {
	src, dst := strings.ToLower(r.SourceTenantID), strings.ToLower(r.TargetTenantID)
	out := Pair{Name: r.Name, SourceTenantID: src, TargetTenantID: dst, Changes: []Change{}, Leaving: []User{}, Absent: true}
	add := func(tenant, setting string, a Action, from, to string) {
		out.Changes = append(out.Changes, Change{Tenant: tenant, Setting: setting, Action: a, From: from, To: to})
	}
	source, err := pl.Dirs.Tenant(ctx, src)
	if err != nil {
		return out, err
	}
	target, err := pl.Dirs.Tenant(ctx, dst)
	if err != nil {
		return out, err
	}
	out.Notes = append(out.Notes, AccountsStay)

	sps, err := source.FindServicePrincipals(ctx, entra.CrossTenantSyncTemplateID, r.Name)
	if err != nil {
		return out, err
	}
	if len(sps) > 1 {
		return out, fmt.Errorf("the source tenant has %d configuration apps named %q; offboarding would not know which to delete", len(sps), r.Name)
	}
	for _, sp := range sps {
		jobs, err := source.ListJobs(ctx, sp.ID)
		if err != nil {
			return out, err
		}
		for _, j := range jobs {
			add("source", "synchronization job "+j.ID, Remove, j.ScheduleState, "")
		}
		add("source", fmt.Sprintf("configuration app %q (service principal %s, application appId %s)", sp.DisplayName, sp.ID, sp.AppID), Remove, "exists", "")
	}

	current, err := fault.Optional(target.GetIdentitySync(ctx, src))
	if err != nil {
		return out, err
	}
	fate := steps.IdentitySyncFate(r.Found, current)
	pl.fate(&out, "target", "identitySynchronization for "+src, fate, func() (string, string) {
		return "isSyncAllowed true", "isSyncAllowed false"
	})

	for _, side := range []struct {
		inbound     bool
		tenant      string
		dir         entra.Directory
		other, flag string
	}{{true, "target", target, src, "inboundAllowed"}, {false, "source", source, dst, "outboundAllowed"}} {
		partner, err := fault.Optional(side.dir.GetPartner(ctx, side.other))
		if err != nil {
			return out, err
		}
		// The target's policy is gone by the time its partner is handled,
		// unless offboarding keeps it.
		hasSync := side.inbound && current != nil && fate.Action != steps.FateDelete
		if partner != nil && !side.inbound {
			sync, err := fault.Optional(side.dir.GetIdentitySync(ctx, side.other))
			if err != nil {
				return out, err
			}
			hasSync = sync != nil
		}
		pfate := steps.PartnerFate(r.Found, side.inbound, r.RemovePartners, partner, hasSync)
		pl.fate(&out, side.tenant, "partner configuration for "+side.other, pfate, func() (string, string) {
			return "automaticUserConsentSettings." + side.flag + " true", "false (its other settings kept)"
		})
	}
	return out, nil
}

// fate adds what a Fate does to the plan: a removal, an update back to
// what ctsync found, or a note saying why it is left alone.
func (pl Planner) fate(out *Pair, tenant, setting string, f steps.Fate, revert func() (from, to string)) {
	switch f.Action {
	case steps.FateDelete:
		out.Changes = append(out.Changes, Change{Tenant: tenant, Setting: setting, Action: Remove, From: "exists", To: f.Why})
	case steps.FateRevert:
		from, to := revert()
		out.Changes = append(out.Changes, Change{Tenant: tenant, Setting: setting, Action: Update, From: from, To: to})
	case steps.FateKeep:
		out.Notes = append(out.Notes, fmt.Sprintf("%s %s: kept (%s)", tenant, setting, f.Why))
	}
}
