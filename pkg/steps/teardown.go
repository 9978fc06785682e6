package steps

import (
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/store"
)

// Fate is what offboarding does to one policy, decided from what the
// onboarding found before it changed anything (the pair's record) and what
// is there now. The steps carry fates out and `plan`/`ctsync offboard`
// preview them, so the preview is exactly what happens.
type Fate struct {
	Action FateAction
	// Why says, for people, why this and not something else.
	Why string
	// Consent is the automatic-redemption setting a Revert of a partner
	// writes back; Sync the identity synchronization policy a Revert of it
	// writes back.
	Consent entra.AutoConsent
	Sync    entra.IdentitySync
}

// FateAction is what offboarding does to a policy.
type FateAction string

const (
	FateAbsent FateAction = "absent" // nothing there: nothing to do
	FateKeep   FateAction = "keep"   // left as it is
	FateDelete FateAction = "delete"
	FateRevert FateAction = "revert" // put back as ctsync found it
)

// IdentitySyncFate decides the target's identity synchronization policy:
// deleted when ctsync created it, put back when ctsync only turned sync on,
// left alone when ctsync has no record of what it found (a pair onboarded
// before ctsync kept one is treated as pre-existing everywhere).
func IdentitySyncFate(found *store.Found, current *entra.IdentitySync) Fate {
	switch {
	case current == nil:
		return Fate{Action: FateAbsent, Why: "no identity synchronization policy"}
	case found == nil || found.TargetIdentitySyncExisted == nil:
		return Fate{Action: FateKeep, Why: "ctsync has no record of what this pair had before it was onboarded, so it is treated as pre-existing"}
	case !*found.TargetIdentitySyncExisted:
		return Fate{Action: FateDelete, Why: "ctsync created it"}
	case found.TargetIdentitySyncAllowed != nil && !*found.TargetIdentitySyncAllowed && current.SyncAllowed:
		return Fate{Action: FateRevert, Why: "it existed before ctsync with user synchronization off; ctsync turned it on",
			Sync: entra.IdentitySync{DisplayName: current.DisplayName, SyncAllowed: false}}
	}
	return Fate{Action: FateKeep, Why: "it existed before ctsync as it is now"}
}

// PartnerFate decides a partner configuration (the target's for the
// source when inbound, the source's for the target otherwise). Only with
// removePartners is anything done: one ctsync created is deleted — unless
// it holds an identity synchronization policy, which Graph requires to go
// first — and one that existed gets back the automatic-redemption flag it
// had; every other setting of it (B2B collaboration, trust) is untouched.
func PartnerFate(found *store.Found, inbound, removePartners bool, current *entra.Partner, hasIdentitySync bool) Fate {
	if current == nil {
		return Fate{Action: FateAbsent, Why: "no partner configuration"}
	}
	if !removePartners {
		return Fate{Action: FateKeep, Why: "partner configurations are kept unless --remove-partners is given"}
	}
	var existed, flagWas *bool
	if found != nil {
		existed, flagWas = found.SourcePartnerExisted, found.SourceOutboundAutoRedeem
		if inbound {
			existed, flagWas = found.TargetPartnerExisted, found.TargetInboundAutoRedeem
		}
	}
	switch {
	case existed == nil:
		return Fate{Action: FateKeep, Why: "ctsync has no record of what this pair had before it was onboarded, so it is treated as pre-existing"}
	case !*existed && hasIdentitySync:
		return Fate{Action: FateKeep, Why: "ctsync created it, but it holds an identity synchronization policy ctsync does not manage (Graph refuses to delete it before that policy)"}
	case !*existed:
		return Fate{Action: FateDelete, Why: "ctsync created it"}
	}
	now := current.Outbound
	if inbound {
		now = current.Inbound
	}
	if flagWas != nil && !*flagWas && isTrue(now) {
		consent := entra.AutoConsent{Inbound: current.Inbound, Outbound: current.Outbound}
		if inbound {
			consent.Inbound = ptr(false)
		} else {
			consent.Outbound = ptr(false)
		}
		return Fate{Action: FateRevert, Why: "it existed before ctsync; ctsync turned automatic redemption on", Consent: consent}
	}
	return Fate{Action: FateKeep, Why: "it existed before ctsync, and its automatic redemption is as ctsync found it"}
}
