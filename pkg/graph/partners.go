package graph

import (
	"context"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/models"

	"github.com/ctsync/ctsync/pkg/entra"
)

func partnerFrom(p models.CrossTenantAccessPolicyConfigurationPartnerable) entra.Partner {
	out := entra.Partner{TenantID: deref(p.GetTenantId())}
	if s := p.GetAutomaticUserConsentSettings(); s != nil {
		out.Inbound, out.Outbound = s.GetInboundAllowed(), s.GetOutboundAllowed()
	}
	return out
}

func (d *directory) GetPartner(ctx context.Context, partnerTenantID string) (entra.Partner, error) {
	p, err := d.partners().ByCrossTenantAccessPolicyConfigurationPartnerTenantId(partnerTenantID).Get(ctx, nil)
	if err != nil {
		return entra.Partner{}, d.fail(entra.OpGetPartner, err)
	}
	return partnerFrom(p), nil
}

func (d *directory) CreatePartner(ctx context.Context, partnerTenantID string) (entra.Partner, error) {
	body := models.NewCrossTenantAccessPolicyConfigurationPartner()
	body.SetTenantId(&partnerTenantID)
	p, err := d.partners().Post(ctx, body, nil)
	if err != nil {
		return entra.Partner{}, d.fail(entra.OpCreatePartner, err)
	}
	return partnerFrom(p), nil
}

func (d *directory) SetAutomaticUserConsent(ctx context.Context, partnerTenantID string, consent entra.AutoConsent) error {
	settings := models.NewInboundOutboundPolicyConfiguration()
	settings.SetInboundAllowed(consent.Inbound)
	settings.SetOutboundAllowed(consent.Outbound)
	body := models.NewCrossTenantAccessPolicyConfigurationPartner()
	body.SetAutomaticUserConsentSettings(settings)
	_, err := d.partners().ByCrossTenantAccessPolicyConfigurationPartnerTenantId(partnerTenantID).Patch(ctx, body, nil)
	return d.fail(entra.OpUpdatePartner, err)
}

func (d *directory) GetIdentitySync(ctx context.Context, partnerTenantID string) (entra.IdentitySync, error) {
	p, err := d.partners().ByCrossTenantAccessPolicyConfigurationPartnerTenantId(partnerTenantID).IdentitySynchronization().Get(ctx, nil)
	if err != nil {
		return entra.IdentitySync{}, d.fail(entra.OpGetIdentitySync, err)
	}
	out := entra.IdentitySync{DisplayName: deref(p.GetDisplayName())}
	if in := p.GetUserSyncInbound(); in != nil {
		out.SyncAllowed = deref(in.GetIsSyncAllowed())
	}
	return out, nil
}

func identitySyncBody(policy entra.IdentitySync) models.CrossTenantIdentitySyncPolicyPartnerable {
	in := models.NewCrossTenantUserSyncInbound()
	allowed := policy.SyncAllowed
	in.SetIsSyncAllowed(&allowed)
	body := models.NewCrossTenantIdentitySyncPolicyPartner()
	body.SetUserSyncInbound(in)
	if policy.DisplayName != "" {
		name := policy.DisplayName
		body.SetDisplayName(&name)
	}
	return body
}

func (d *directory) CreateIdentitySync(ctx context.Context, partnerTenantID string, policy entra.IdentitySync) error {
	_, err := d.partners().ByCrossTenantAccessPolicyConfigurationPartnerTenantId(partnerTenantID).IdentitySynchronization().Put(ctx, identitySyncBody(policy), nil)
	return d.fail(entra.OpPutIdentitySync, err)
}

// UpdateIdentitySync sends a PATCH the SDK has no builder for (removed in
// 2023): the PUT request, re-labelled.
func (d *directory) UpdateIdentitySync(ctx context.Context, partnerTenantID string, policy entra.IdentitySync) error {
	ri, err := d.partners().ByCrossTenantAccessPolicyConfigurationPartnerTenantId(partnerTenantID).IdentitySynchronization().
		ToPutRequestInformation(ctx, identitySyncBody(policy), nil)
	if err != nil {
		return d.fail(entra.OpPatchIdentitySync, err)
	}
	ri.Method = abstractions.PATCH
	err = d.adapter.SendNoContent(ctx, ri, errorMappings)
	return d.fail(entra.OpPatchIdentitySync, err)
}
