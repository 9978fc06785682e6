package graph

import (
	"context"

	"github.com/microsoftgraph/msgraph-beta-sdk-go/applications"

	"github.com/ctsync/ctsync/pkg/entra"
)

// The teardown calls, in Microsoft's order (graph-api.md §8): the job, the
// configuration app (service principal, then application), the target's
// identity synchronization policy, the partner configurations.

func (d *directory) DeleteJob(ctx context.Context, spID, jobID string) error {
	err := d.servicePrincipals().ByServicePrincipalId(spID).Synchronization().Jobs().BySynchronizationJobId(jobID).Delete(ctx, nil)
	return d.fail(entra.OpDeleteJob, err)
}

func (d *directory) DeleteServicePrincipal(ctx context.Context, spID string) error {
	return d.fail(entra.OpDeleteSP, d.servicePrincipals().ByServicePrincipalId(spID).Delete(ctx, nil))
}

func (d *directory) applications() *applications.ApplicationsRequestBuilder {
	return applications.NewApplicationsRequestBuilderInternal(d.pathParams(), d.adapter)
}

// FindApplication returns the object id of the application with appId, or
// "" when there is none (a service principal names its application only by
// appId).
func (d *directory) FindApplication(ctx context.Context, appID string) (string, error) {
	filter := "appId eq " + odataString(appID)
	resp, err := d.applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &filter, Select: []string{"id", "appId"}}})
	if err != nil {
		return "", d.fail(entra.OpFindApplication, err)
	}
	for _, a := range resp.GetValue() {
		if id := deref(a.GetId()); id != "" {
			return id, nil
		}
	}
	return "", nil
}

func (d *directory) DeleteApplication(ctx context.Context, objectID string) error {
	return d.fail(entra.OpDeleteApplication, d.applications().ByApplicationId(objectID).Delete(ctx, nil))
}

func (d *directory) DeleteIdentitySync(ctx context.Context, partnerTenantID string) error {
	err := d.partners().ByCrossTenantAccessPolicyConfigurationPartnerTenantId(partnerTenantID).IdentitySynchronization().Delete(ctx, nil)
	return d.fail(entra.OpDeleteIdentitySync, err)
}

func (d *directory) DeletePartner(ctx context.Context, partnerTenantID string) error {
	err := d.partners().ByCrossTenantAccessPolicyConfigurationPartnerTenantId(partnerTenantID).Delete(ctx, nil)
	return d.fail(entra.OpDeletePartner, err)
}
