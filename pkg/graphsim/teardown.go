package graphsim

import (
	"net/http"
	"sort"
	"strings"
)

var applicationFilter = filterRules{"appId": {"eq"}, "id": {"eq"}, "displayName": {"eq", "startswith"}}

// listApplications serves GET /applications with $filter (appId, id,
// displayName): how a caller finds the application behind a service
// principal, which names it only by appId.
func (s *Server) listApplications(c *call) {
	var filter filterExpr
	if f := c.r.URL.Query().Get("$filter"); f != "" {
		var err error
		if filter, err = parseFilter(f, applicationFilter); err != nil {
			c.badRequest("Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property: "+err.Error())
			return
		}
	}
	now := s.now()
	var matched []*application
	for _, a := range c.tenant.apps {
		if now.Before(a.visibleAt) {
			continue
		}
		get := func(prop string) any {
			switch prop {
			case "appId":
				return a.appID
			case "id":
				return a.id
			case "displayName":
				return a.displayName
			}
			return nil
		}
		if filter == nil || truthy(filter.eval(get)) {
			matched = append(matched, a)
		}
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].created.Before(matched[j].created) })
	value := []any{}
	for _, a := range matched {
		value = append(value, selectFields(map[string]any{"id": a.id, "appId": a.appID, "displayName": a.displayName,
			"deletedDateTime": nil, "signInAudience": "AzureADMyOrg"}, c.r.URL.Query().Get("$select")))
	}
	c.writePage(c.context("applications"), value)
}

// deleteApplication serves DELETE /applications/{id}. As in Entra, the
// application's service principal in its home tenant goes with it.
func (s *Server) deleteApplication(c *call) {
	id := strings.ToLower(c.r.PathValue("app"))
	a, ok := c.tenant.apps[id]
	if !ok {
		c.notFound(id)
		return
	}
	delete(c.tenant.apps, id)
	for spID, sp := range c.tenant.sps {
		if sp.appObjectID == a.id {
			delete(c.tenant.sps, spID)
		}
	}
	c.noContent()
}

// deletePartner serves DELETE .../partners/{id}, with Graph's ordering
// rule: a partner configuration that still has an identity
// synchronization policy cannot be deleted (schema.md §4).
func (s *Server) deletePartner(c *call) {
	p, ok := c.lookupPartner()
	if !ok {
		return
	}
	if p.identitySync != nil {
		c.odataError(http.StatusBadRequest, "Request_BadRequest",
			"The partner configuration cannot be deleted while it has an identity synchronization policy. Delete the identitySynchronization first.")
		return
	}
	delete(c.tenant.partners, p.tenantID)
	c.noContent()
}

// PartnerSpec is a partner configuration that exists before ctsync runs:
// B2B settings someone made (InboundTrust stands for them), with or
// without automatic redemption.
type PartnerSpec struct {
	TenantID        string
	InboundAllowed  *bool
	OutboundAllowed *bool
	// InboundTrust is any B2B setting; it is returned as the partner's
	// inboundTrust and must survive everything ctsync does.
	InboundTrust map[string]any
	// IdentitySync, when set, is an identity synchronization policy that
	// predates ctsync.
	IdentitySync *IdentitySyncView
}

// AddPartner creates a partner configuration in tenantID behind ctsync's
// back.
func (s *Server) AddPartner(tenantID string, spec PartnerSpec) {
	s.withTenant(tenantID, func(t *tenant) {
		p := &partner{tenantID: strings.ToLower(spec.TenantID), inboundAllowed: spec.InboundAllowed, outboundAllowed: spec.OutboundAllowed,
			created: s.now()}
		if spec.InboundTrust != nil {
			p.inboundTrust = spec.InboundTrust
		}
		if spec.IdentitySync != nil {
			p.identitySync = &identitySync{displayName: spec.IdentitySync.DisplayName, isSyncAllowed: spec.IdentitySync.IsSyncAllowed}
		}
		t.partners[p.tenantID] = p
	})
}

// Applications returns the ids of a tenant's applications.
func (s *Server) Applications(tenantID string) []string {
	var ids []string
	s.withTenant(tenantID, func(t *tenant) {
		for id := range t.apps {
			ids = append(ids, id)
		}
	})
	sort.Strings(ids)
	return ids
}
