package graphsim

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

func (c *call) context(fragment string) string {
	return c.s.URL + "/" + c.version + "/$metadata#" + fragment
}

func (c *call) partnerJSON(p *partner) map[string]any {
	m := map[string]any{
		"tenantId":                       p.tenantID,
		"isServiceProvider":              nil,
		"inboundTrust":                   p.inboundTrust,
		"b2bCollaborationOutbound":       nil,
		"b2bCollaborationInbound":        nil,
		"b2bDirectConnectOutbound":       nil,
		"b2bDirectConnectInbound":        nil,
		"tenantRestrictions":             nil,
		"crossCloudMeetingConfiguration": map[string]any{"inboundAllowed": nil, "outboundAllowed": nil},
		"automaticUserConsentSettings":   map[string]any{"inboundAllowed": p.inboundAllowed, "outboundAllowed": p.outboundAllowed},
	}
	if c.version == "beta" {
		m["isInMultiTenantOrganization"] = false
		m["blockServiceProviderOutboundAccess"] = nil
		m["appServiceConnectInbound"] = nil
		m["deletedDateTime"] = nil
	}
	return m
}

func (c *call) lookupPartner() (*partner, bool) {
	id := strings.ToLower(c.r.PathValue("partner"))
	p, ok := c.tenant.partners[id]
	if !ok {
		c.notFound(id)
	}
	return p, ok
}

func (s *Server) listPartners(c *call) {
	ids := make([]string, 0, len(c.tenant.partners))
	for id := range c.tenant.partners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var value []any
	for _, id := range ids {
		value = append(value, c.partnerJSON(c.tenant.partners[id]))
	}
	if value == nil {
		value = []any{}
	}
	c.writeJSON(http.StatusOK, map[string]any{"@odata.context": c.context("policies/crossTenantAccessPolicy/partners"), "value": value})
}

func (s *Server) createPartner(c *call) {
	var body struct {
		TenantID string `json:"tenantId"`
	}
	if !c.decode(&body) {
		return
	}
	id := strings.ToLower(body.TenantID)
	if !isGUID(id) {
		c.badRequest("Request_BadRequest", "Invalid value specified for property 'tenantId' of resource 'CrossTenantAccessPolicyConfigurationPartner'.")
		return
	}
	if id == c.tenant.id {
		c.badRequest("Request_BadRequest", "A partner configuration cannot be created for the home tenant.")
		return
	}
	if _, dup := c.tenant.partners[id]; dup {
		c.odataError(http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue", "Another object with the same value for property tenantId already exists.")
		return
	}
	p := &partner{tenantID: id, created: s.now()}
	c.tenant.partners[id] = p
	out := c.partnerJSON(p)
	out["@odata.context"] = c.context("policies/crossTenantAccessPolicy/partners/$entity")
	c.header().Set("Location", s.URL+"/"+c.version+"/policies/crossTenantAccessPolicy/partners/"+id)
	c.writeJSON(http.StatusCreated, out)
}

func (s *Server) getPartner(c *call) {
	p, ok := c.lookupPartner()
	if !ok {
		return
	}
	out := c.partnerJSON(p)
	out["@odata.context"] = c.context("policies/crossTenantAccessPolicy/partners/$entity")
	c.writeJSON(http.StatusOK, out)
}

// updatePartner applies a PATCH. Complex properties are replaced as a whole
// (automaticUserConsentSettings: a flag left out becomes null), so a client
// must send both flags to change one: the stricter of the two readings of
// Graph's PATCH semantics.
func (s *Server) updatePartner(c *call) {
	p, ok := c.lookupPartner()
	if !ok {
		return
	}
	var body map[string]json.RawMessage
	if !c.decode(&body) {
		return
	}
	for key, raw := range body {
		switch key {
		case "automaticUserConsentSettings":
			var v struct {
				InboundAllowed  *bool `json:"inboundAllowed"`
				OutboundAllowed *bool `json:"outboundAllowed"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				c.badRequest("BadRequest", "Invalid value for property 'automaticUserConsentSettings'.")
				return
			}
			p.inboundAllowed, p.outboundAllowed = v.InboundAllowed, v.OutboundAllowed
		case "inboundTrust":
			var v any
			_ = json.Unmarshal(raw, &v)
			p.inboundTrust = v
		case "@odata.type", "b2bCollaborationInbound", "b2bCollaborationOutbound", "b2bDirectConnectInbound",
			"b2bDirectConnectOutbound", "tenantRestrictions", "crossCloudMeetingConfiguration", "isServiceProvider":
		case "tenantId":
			c.badRequest("Request_BadRequest", "Property 'tenantId' is read-only and cannot be set.")
			return
		default:
			c.badRequest("BadRequest", "Invalid property '"+key+"'.")
			return
		}
	}
	c.noContent()
}

type identitySyncBody struct {
	DisplayName     *string `json:"displayName"`
	UserSyncInbound *struct {
		IsSyncAllowed *bool `json:"isSyncAllowed"`
	} `json:"userSyncInbound"`
}

// lookupIdentitySync finds the partner and its identity sync policy,
// answering 404 itself when either is missing.
func (c *call) lookupIdentitySync() (*partner, bool) {
	p, ok := c.lookupPartner()
	if ok && p.identitySync == nil {
		c.notFound(p.tenantID)
		return nil, false
	}
	return p, ok
}

// applyTo sets the fields the body names.
func (b identitySyncBody) applyTo(is *identitySync) {
	if b.DisplayName != nil {
		is.displayName = *b.DisplayName
	}
	if b.UserSyncInbound != nil && b.UserSyncInbound.IsSyncAllowed != nil {
		is.isSyncAllowed = *b.UserSyncInbound.IsSyncAllowed
	}
}

func (s *Server) getIdentitySync(c *call) {
	p, ok := c.lookupIdentitySync()
	if !ok {
		return
	}
	c.writeJSON(http.StatusOK, map[string]any{
		"@odata.context":  c.context("policies/crossTenantAccessPolicy/partners('" + p.tenantID + "')/identitySynchronization/$entity"),
		"tenantId":        p.tenantID,
		"displayName":     p.identitySync.displayName,
		"userSyncInbound": map[string]any{"isSyncAllowed": p.identitySync.isSyncAllowed},
	})
}

// putIdentitySync creates the policy; a second PUT is a conflict, as the
// article's troubleshooting section shows.
func (s *Server) putIdentitySync(c *call) {
	p, ok := c.lookupPartner()
	if !ok {
		return
	}
	var body identitySyncBody
	if !c.decode(&body) {
		return
	}
	if p.identitySync != nil {
		c.odataError(http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue",
			"A conflicting object with one or more of the specified property values is present in the directory.",
			map[string]string{"code": "ConflictingObjects", "message": "A conflicting object with one or more of the specified property values is present in the directory.", "target": "ConflictingObjects"})
		return
	}
	p.identitySync = &identitySync{}
	body.applyTo(p.identitySync)
	c.noContent()
}

// patchIdentitySync updates the policy; before a PUT it fails the way the
// article documents.
func (s *Server) patchIdentitySync(c *call) {
	p, ok := c.lookupPartner()
	if !ok {
		return
	}
	var body identitySyncBody
	if !c.decode(&body) {
		return
	}
	if p.identitySync == nil {
		c.odataError(http.StatusNotFound, "Directory_ObjectNotFound", "Unable to read the company information from the directory.")
		return
	}
	body.applyTo(p.identitySync)
	c.noContent()
}

func (s *Server) deleteIdentitySync(c *call) {
	p, ok := c.lookupIdentitySync()
	if !ok {
		return
	}
	p.identitySync = nil
	c.noContent()
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
