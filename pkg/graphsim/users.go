package graphsim

import (
	"net/http"
	"strings"
)

func (c *call) userJSON(u *user) map[string]any {
	obj := map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.id, "displayName": u.displayName,
		"userPrincipalName": u.upn, "userType": u.userType, "accountEnabled": true}
	for k, v := range u.attrs {
		obj[k] = v
	}
	return obj
}

// selectUser keeps id, @odata.type and the $select-ed properties; Graph
// answers null for a selected property the user does not have.
func selectUser(obj map[string]any, sel string) map[string]any {
	if sel == "" {
		return obj
	}
	out := map[string]any{"@odata.type": obj["@odata.type"], "id": obj["id"]}
	for _, f := range strings.Split(sel, ",") {
		f = strings.TrimSpace(f)
		out[f] = obj[f]
	}
	return out
}

func (s *Server) getUser(c *call) {
	id := strings.ToLower(c.r.PathValue("user"))
	u, ok := c.tenant.users[id]
	if !ok || u.deleted {
		c.notFound(id)
		return
	}
	obj := selectUser(c.userJSON(u), c.r.URL.Query().Get("$select"))
	obj["@odata.context"] = c.context("users/$entity")
	c.writeJSON(http.StatusOK, obj)
}

// listGroupMembers lists a group's direct members (not transitive), in one
// page.
func (s *Server) listGroupMembers(c *call) {
	id := strings.ToLower(c.r.PathValue("group"))
	g, ok := c.tenant.groups[id]
	if !ok {
		c.notFound(id)
		return
	}
	value := []any{}
	for _, m := range g.members {
		if u, ok := c.tenant.users[m]; ok && !u.deleted {
			value = append(value, selectUser(c.userJSON(u), c.r.URL.Query().Get("$select")))
		}
	}
	c.writePage(c.context("directoryObjects"), value)
}

func (s *Server) deleteAssignment(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	id := c.r.PathValue("assignment")
	for i, a := range sp.assignments {
		if a.id == id {
			sp.assignments = append(sp.assignments[:i], sp.assignments[i+1:]...)
			c.noContent()
			return
		}
	}
	c.notFound(id)
}
