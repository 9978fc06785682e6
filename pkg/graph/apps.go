package graph

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/applicationtemplates"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/models"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/serviceprincipals"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/wire"
)

func servicePrincipalFrom(sp models.ServicePrincipalable) entra.ServicePrincipal {
	out := entra.ServicePrincipal{
		ID: deref(sp.GetId()), AppID: deref(sp.GetAppId()), DisplayName: deref(sp.GetDisplayName()),
		TemplateID: deref(sp.GetApplicationTemplateId()),
	}
	for _, r := range sp.GetAppRoles() {
		role := entra.AppRole{DisplayName: deref(r.GetDisplayName()), Value: deref(r.GetValue())}
		if id := r.GetId(); id != nil {
			role.ID = id.String()
		}
		out.AppRoles = append(out.AppRoles, role)
	}
	return out
}

// odataString quotes a value for a $filter string literal.
func odataString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (d *directory) FindServicePrincipals(ctx context.Context, templateID, displayName string) ([]entra.ServicePrincipal, error) {
	filter := "applicationTemplateId eq " + odataString(templateID) + " and displayName eq " + odataString(displayName)
	resp, err := d.servicePrincipals().Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{
			Filter: &filter,
			Select: []string{"id", "appId", "displayName", "applicationTemplateId", "appRoles"},
		},
	})
	if err != nil {
		return nil, d.fail(entra.OpFindSP, err)
	}
	var out []entra.ServicePrincipal
	for _, sp := range resp.GetValue() {
		out = append(out, servicePrincipalFrom(sp))
	}
	return out, nil
}

func (d *directory) GetServicePrincipal(ctx context.Context, id string) (entra.ServicePrincipal, error) {
	sp, err := d.servicePrincipals().ByServicePrincipalId(id).Get(ctx, nil)
	if err != nil {
		return entra.ServicePrincipal{}, d.fail(entra.OpGetSP, err)
	}
	return servicePrincipalFrom(sp), nil
}

func (d *directory) InstantiateTemplate(ctx context.Context, templateID, displayName string) (entra.ServicePrincipal, error) {
	body := applicationtemplates.NewItemInstantiatePostRequestBody()
	body.SetDisplayName(&displayName)
	resp, err := d.templates().ByApplicationTemplateId(templateID).Instantiate().Post(ctx, body, nil)
	if err != nil {
		return entra.ServicePrincipal{}, d.fail(entra.OpInstantiate, err)
	}
	if resp == nil || resp.GetServicePrincipal() == nil || resp.GetServicePrincipal().GetId() == nil {
		return entra.ServicePrincipal{}, fault.New(fault.Transient, string(entra.OpInstantiate), "instantiate answered without a service principal id")
	}
	return servicePrincipalFrom(resp.GetServicePrincipal()), nil
}

// ListAssignments reads every page of the service principal's
// appRoleAssignedTo: exact assignments remove what is not listed, so a
// page left unread would be a principal wrongly kept.
func (d *directory) ListAssignments(ctx context.Context, spID string) ([]entra.Assignment, error) {
	builder := d.servicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo()
	resp, err := builder.Get(ctx, nil)
	var out []entra.Assignment
	for pages := 0; ; pages++ {
		if err != nil {
			return nil, d.fail(entra.OpListAssignments, err)
		}
		for _, a := range resp.GetValue() {
			out = append(out, assignmentFrom(a))
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return out, nil
		}
		if err := wire.CheckNextLinkOf(d.endpoint, next, "servicePrincipals/"+spID+"/appRoleAssignedTo"); err != nil {
			return nil, fault.New(fault.Invalid, string(entra.OpListAssignments), "%v", err)
		}
		if pages > 10000 {
			return nil, fault.New(fault.Invalid, string(entra.OpListAssignments), "service principal %s has more than 10,000 pages of assignments", spID)
		}
		resp, err = builder.WithUrl(next).Get(ctx, nil)
	}
}

func assignmentFrom(a models.AppRoleAssignmentable) entra.Assignment {
	out := entra.Assignment{ID: deref(a.GetId()), PrincipalType: deref(a.GetPrincipalType())}
	if p := a.GetPrincipalId(); p != nil {
		out.PrincipalID = p.String()
	}
	if r := a.GetAppRoleId(); r != nil {
		out.AppRoleID = r.String()
	}
	return out
}

func (d *directory) Assign(ctx context.Context, spID, appRoleID, principalID string) (entra.Assignment, error) {
	ids := make([]uuid.UUID, 3)
	for i, s := range []string{appRoleID, spID, principalID} {
		u, err := uuid.Parse(s)
		if err != nil {
			return entra.Assignment{}, fault.New(fault.Invalid, string(entra.OpAssign), "%q is not a GUID", s)
		}
		ids[i] = u
	}
	body := models.NewAppRoleAssignment()
	body.SetAppRoleId(&ids[0])
	body.SetResourceId(&ids[1])
	body.SetPrincipalId(&ids[2])
	a, err := d.servicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().Post(ctx, body, nil)
	if err != nil {
		return entra.Assignment{}, d.fail(entra.OpAssign, err)
	}
	return assignmentFrom(a), nil
}

func secretPairs(op entra.Op, secrets []entra.Secret) ([]models.SynchronizationSecretKeyStringValuePairable, error) {
	var out []models.SynchronizationSecretKeyStringValuePairable
	for _, s := range secrets {
		parsed, err := models.ParseSynchronizationSecret(s.Key)
		key, ok := parsed.(*models.SynchronizationSecret)
		if err != nil || !ok || (*key == models.NONE_SYNCHRONIZATIONSECRET && s.Key != "None") {
			return nil, fault.New(fault.Invalid, string(op), "%q is not a synchronization secret key", s.Key)
		}
		v := s.Value.Reveal()
		pair := models.NewSynchronizationSecretKeyStringValuePair()
		pair.SetKey(key)
		pair.SetValue(&v)
		out = append(out, pair)
	}
	return out, nil
}
