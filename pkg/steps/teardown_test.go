package steps

import (
	"testing"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/store"
)

func b(v bool) *bool { return &v }

// What offboarding does to each policy follows from what the onboarding
// found: ctsync deletes only what it created, puts back what it changed,
// and treats a pair it has no record of as pre-existing everywhere.
func TestFatesFollowWhatTheOnboardingFound(t *testing.T) {
	on := &entra.IdentitySync{DisplayName: "Contoso", SyncAllowed: true}
	for _, tc := range []struct {
		name  string
		found *store.Found
		sync  *entra.IdentitySync
		want  FateAction
	}{
		{"created by ctsync", &store.Found{TargetIdentitySyncExisted: b(false)}, on, FateDelete},
		{"existed with sync off", &store.Found{TargetIdentitySyncExisted: b(true), TargetIdentitySyncAllowed: b(false)}, on, FateRevert},
		{"existed with sync on", &store.Found{TargetIdentitySyncExisted: b(true), TargetIdentitySyncAllowed: b(true)}, on, FateKeep},
		{"no record", nil, on, FateKeep},
		{"gone", &store.Found{TargetIdentitySyncExisted: b(false)}, nil, FateAbsent},
	} {
		if got := IdentitySyncFate(tc.found, tc.sync); got.Action != tc.want {
			t.Errorf("identity sync %s: %s (%s), want %s", tc.name, got.Action, got.Why, tc.want)
		}
	}

	partner := &entra.Partner{Inbound: b(true), Outbound: b(true)}
	for _, tc := range []struct {
		name                    string
		found                   *store.Found
		inbound, remove, synced bool
		want                    FateAction
	}{
		{"without --remove-partners", &store.Found{TargetPartnerExisted: b(false)}, true, false, false, FateKeep},
		{"created by ctsync", &store.Found{TargetPartnerExisted: b(false)}, true, true, false, FateDelete},
		{"created, but holding a policy ctsync does not manage", &store.Found{SourcePartnerExisted: b(false)}, false, true, true, FateKeep},
		{"existed, ctsync turned redemption on", &store.Found{SourcePartnerExisted: b(true), SourceOutboundAutoRedeem: b(false)}, false, true, false, FateRevert},
		{"existed with redemption on", &store.Found{TargetPartnerExisted: b(true), TargetInboundAutoRedeem: b(true)}, true, true, false, FateKeep},
		{"no record", nil, true, true, false, FateKeep},
	} {
		got := PartnerFate(tc.found, tc.inbound, tc.remove, partner, tc.synced)
		if got.Action != tc.want {
			t.Errorf("partner %s: %s (%s), want %s", tc.name, got.Action, got.Why, tc.want)
		}
		if got.Action == FateRevert && (tc.inbound && *got.Consent.Inbound || !tc.inbound && (*got.Consent.Outbound || !*got.Consent.Inbound)) {
			t.Errorf("partner %s: the revert writes %+v; want only ctsync's flag off, the other kept", tc.name, got.Consent)
		}
	}
	if got := PartnerFate(nil, true, true, nil, false); got.Action != FateAbsent {
		t.Errorf("no partner: %s", got.Action)
	}
}
