package graphsim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CrossTenantSyncTemplateID is the gallery template of the cross-tenant
// synchronization configuration application.
const CrossTenantSyncTemplateID = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7"

var knownTemplates = map[string]bool{
	CrossTenantSyncTemplateID:              true,
	"8adf8e6e-67b2-4cf2-a259-e3dc5476c621": true, // non-gallery (custom) application
}

type application struct {
	id, appID, displayName, templateID string
	created, visibleAt                 time.Time
}

type servicePrincipal struct {
	id, appID, appObjectID, displayName, templateID, appRoleID string
	created, visibleAt                                         time.Time
	jobs                                                       map[string]*job
	secrets                                                    map[string]string
	assignments                                                []*assignment
}

type assignment struct {
	id, principalID, principalType, principalDisplayName, appRoleID string
	created                                                         time.Time
}

func (sp *servicePrincipal) visible(now time.Time) bool { return !now.Before(sp.visibleAt) }

func (c *call) servicePrincipalJSON(sp *servicePrincipal) map[string]any {
	return map[string]any{
		"id":                        sp.id,
		"deletedDateTime":           nil,
		"accountEnabled":            true,
		"appId":                     sp.appID,
		"applicationTemplateId":     nullable(sp.templateID),
		"appDisplayName":            sp.displayName,
		"appOwnerOrganizationId":    c.tenant.id,
		"appRoleAssignmentRequired": true,
		"displayName":               sp.displayName,
		"homepage":                  "https://account.activedirectory.windowsazure.com:444/applications/default.aspx?metadata=aad2aadsync|ISV9.1|primary|z",
		"preferredSingleSignOnMode": nil,
		"servicePrincipalNames":     []string{sp.appID},
		"servicePrincipalType":      "Application",
		"signInAudience":            "AzureADMyOrg",
		"tags":                      []string{"WindowsAzureActiveDirectoryIntegratedApp"},
		"appRoles": []any{map[string]any{
			"allowedMemberTypes": []string{"User"}, "description": "msiam_access", "displayName": "msiam_access",
			"id": sp.appRoleID, "isEnabled": true, "origin": "Application", "value": nil,
		}},
		"oauth2PermissionScopes": []any{map[string]any{
			"adminConsentDescription": "Allow the application to access " + sp.displayName + " on behalf of the signed-in user.",
			"adminConsentDisplayName": "Access " + sp.displayName, "id": newID(), "isEnabled": true, "type": "User",
			"userConsentDescription": "Allow the application to access " + sp.displayName + " on your behalf.",
			"userConsentDisplayName": "Access " + sp.displayName, "value": "user_impersonation",
		}},
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// instantiate creates an application and its service principal from a
// template. It is not idempotent: every call creates a new pair, and the new
// objects stay unreadable for AppReplicationDelay.
func (s *Server) instantiate(c *call) {
	tmpl := strings.ToLower(c.r.PathValue("template"))
	if !knownTemplates[tmpl] {
		c.notFound(tmpl)
		return
	}
	var body struct {
		DisplayName string `json:"displayName"`
	}
	if !c.decode(&body) {
		return
	}
	if strings.TrimSpace(body.DisplayName) == "" {
		c.badRequest("Request_BadRequest", "Required property 'displayName' is missing or empty.")
		return
	}
	now := s.now()
	visible := now.Add(s.opts.AppReplicationDelay)
	app := &application{id: newID(), appID: newID(), displayName: body.DisplayName, templateID: tmpl, created: now, visibleAt: visible}
	sp := &servicePrincipal{id: newID(), appID: app.appID, appObjectID: app.id, displayName: body.DisplayName, templateID: tmpl,
		appRoleID: newID(), created: now, visibleAt: visible, jobs: map[string]*job{}, secrets: map[string]string{}}
	c.tenant.apps[app.id] = app
	c.tenant.sps[sp.id] = sp
	c.writeJSON(http.StatusCreated, map[string]any{
		"@odata.context": c.context("microsoft.graph.applicationServicePrincipal"),
		"application": map[string]any{
			"objectId": app.id, "id": app.id, "appId": app.appID, "applicationTemplateId": tmpl, "displayName": app.displayName,
			"signInAudience": "AzureADMyOrg", "createdDateTime": now.Format(time.RFC3339),
			"api": map[string]any{"oauth2PermissionScopes": []any{map[string]any{"value": "user_impersonation", "type": "User", "isEnabled": true, "id": newID()}}},
			"appRoles": []any{map[string]any{"allowedMemberTypes": []string{"User"}, "description": "msiam_access", "displayName": "msiam_access",
				"id": sp.appRoleID, "isEnabled": true, "origin": "Application", "value": nil}},
		},
		"servicePrincipal": c.servicePrincipalJSON(sp),
	})
}

var servicePrincipalFilter = filterRules{
	"applicationTemplateId": {"eq", "ne"},
	"displayName":           {"eq", "ne", "ge", "le", "startswith"},
	"appId":                 {"eq"},
	"id":                    {"eq"},
	"servicePrincipalType":  {"eq"},
}

func (s *Server) listServicePrincipals(c *call) {
	q := c.r.URL.Query()
	var filter filterExpr
	if f := q.Get("$filter"); f != "" {
		var err error
		if filter, err = parseFilter(f, servicePrincipalFilter); err != nil {
			c.badRequest("Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property: "+err.Error())
			return
		}
	}
	top := 100
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			c.badRequest("Request_BadRequest", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
			return
		}
		top = n
	}
	now := s.now()
	var matched []*servicePrincipal
	for _, sp := range c.tenant.sps {
		if !sp.visible(now) {
			continue
		}
		get := func(prop string) any {
			switch prop {
			case "applicationTemplateId":
				return sp.templateID
			case "displayName":
				return sp.displayName
			case "appId":
				return sp.appID
			case "id":
				return sp.id
			case "servicePrincipalType":
				return "Application"
			}
			return nil
		}
		if filter == nil || truthy(filter.eval(get)) {
			matched = append(matched, sp)
		}
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].created.Before(matched[j].created) })
	if len(matched) > top {
		matched = matched[:top]
	}
	value := []any{}
	for _, sp := range matched {
		value = append(value, selectFields(c.servicePrincipalJSON(sp), q.Get("$select")))
	}
	c.writeJSON(http.StatusOK, map[string]any{"@odata.context": c.context("servicePrincipals"), "value": value})
}

func selectFields(obj map[string]any, sel string) map[string]any {
	if sel == "" {
		return obj
	}
	out := map[string]any{}
	for _, f := range strings.Split(sel, ",") {
		f = strings.TrimSpace(f)
		if v, ok := obj[f]; ok {
			out[f] = v
		}
	}
	if _, ok := out["id"]; !ok {
		out["id"] = obj["id"]
	}
	return out
}

// lookupSP finds a readable service principal, answering 404 itself.
func (c *call) lookupSP() (*servicePrincipal, bool) {
	id := strings.ToLower(c.r.PathValue("sp"))
	sp, ok := c.tenant.sps[id]
	if !ok || !sp.visible(c.s.now()) {
		c.notFound(id)
		return nil, false
	}
	return sp, true
}

func (s *Server) getServicePrincipal(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	out := selectFields(c.servicePrincipalJSON(sp), c.r.URL.Query().Get("$select"))
	out["@odata.context"] = c.context("servicePrincipals/$entity")
	c.writeJSON(http.StatusOK, out)
}

func (s *Server) deleteServicePrincipal(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	delete(c.tenant.sps, sp.id)
	c.noContent()
}

func (c *call) assignmentJSON(sp *servicePrincipal, a *assignment) map[string]any {
	return map[string]any{
		"id": a.id, "deletedDateTime": nil, "appRoleId": a.appRoleID, "createdDateTime": a.created.Format(time.RFC3339Nano),
		"principalDisplayName": a.principalDisplayName, "principalId": a.principalID, "principalType": a.principalType,
		"resourceDisplayName": sp.displayName, "resourceId": sp.id,
	}
}

func (s *Server) listAssignments(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	value := []any{}
	for _, a := range sp.assignments {
		value = append(value, c.assignmentJSON(sp, a))
	}
	c.writePage(c.context("servicePrincipals('"+sp.id+"')/appRoleAssignedTo"), value)
}

func (s *Server) createAssignment(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	var body struct {
		AppRoleID   string `json:"appRoleId"`
		ResourceID  string `json:"resourceId"`
		PrincipalID string `json:"principalId"`
	}
	if !c.decode(&body) {
		return
	}
	principal, role, resource := strings.ToLower(body.PrincipalID), strings.ToLower(body.AppRoleID), strings.ToLower(body.ResourceID)
	if resource != sp.id {
		c.badRequest("Request_BadRequest", "Invalid value specified for property 'resourceId' of resource 'AppRoleAssignment'.")
		return
	}
	if role != sp.appRoleID {
		c.badRequest("Request_BadRequest", "Permission being assigned was not found on application '"+sp.appID+"'.")
		return
	}
	var kind, name string
	if u, ok := c.tenant.users[principal]; ok {
		kind, name = "User", u.displayName
	} else if g, ok := c.tenant.groups[principal]; ok {
		kind, name = "Group", g.displayName
	} else {
		c.notFound(principal)
		return
	}
	for _, a := range sp.assignments {
		if a.principalID == principal && a.appRoleID == role {
			c.badRequest("Request_BadRequest", "Permission being assigned already exists on the object")
			return
		}
	}
	a := &assignment{id: assignmentID(), principalID: principal, principalType: kind, principalDisplayName: name, appRoleID: role, created: s.now()}
	sp.assignments = append(sp.assignments, a)
	c.writeJSON(http.StatusCreated, c.assignmentJSON(sp, a))
}

// assignmentID mimics Graph's base64url assignment ids.
func assignmentID() string {
	return strings.TrimRight(b64.EncodeToString(randomBytes(32))[:43], "=")
}
