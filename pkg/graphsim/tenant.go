package graphsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Permissions the emulator knows, as application permissions (app roles) on
// Microsoft Graph. A new tenant grants all of them to the client app.
var AllPermissions = []string{
	"Policy.Read.All",
	"Policy.ReadWrite.CrossTenantAccess",
	"Application.Read.All",
	"Application.ReadWrite.All",
	"Application.ReadWrite.OwnedBy",
	"AppRoleAssignment.ReadWrite.All",
	"Directory.Read.All",
	"Directory.ReadWrite.All",
	"Synchronization.Read.All",
	"Synchronization.ReadWrite.All",
	"AuditLog.Read.All",
	"User.Read.All",
	"GroupMember.Read.All",
}

// TenantSpec describes a tenant to create.
type TenantSpec struct {
	ID          string
	DisplayName string
	Domain      string // e.g. contoso.onmicrosoft.com
	Users       []UserSpec
	Groups      []GroupSpec
}

// UserSpec is a member user of a tenant.
type UserSpec struct {
	ID                string
	DisplayName       string
	UserPrincipalName string
	// Attributes are further user properties (department, employeeId,
	// accountEnabled, …): readable with $select, evaluated by scoping
	// filters.
	Attributes map[string]any
}

// GroupSpec is a security group; Members are user ids.
type GroupSpec struct {
	ID          string
	DisplayName string
	Members     []string
}

type tenant struct {
	id, displayName, domain string
	consented               bool
	grants                  map[string]bool
	users                   map[string]*user
	groups                  map[string]*group
	partners                map[string]*partner
	apps                    map[string]*application
	sps                     map[string]*servicePrincipal
	logs                    *provisioningLog
	// failures makes provisioning of these source users fail in every cycle:
	// user id → error code and reason.
	failures map[string][2]string
}

type user struct {
	id, displayName, upn, userType string
	attrs                          map[string]any
	// deleted is a soft delete: the user is in deleted items for 30 days.
	deleted bool
	// externalOf is the source tenant and user a B2B member was synchronized from.
	externalTenant, externalUser string
	created                      time.Time
}

type group struct {
	id, displayName string
	members         []string
}

// partner is a crossTenantAccessPolicyConfigurationPartner.
type partner struct {
	tenantID        string
	inboundAllowed  *bool
	outboundAllowed *bool
	inboundTrust    any
	identitySync    *identitySync
	created         time.Time
}

type identitySync struct {
	displayName   string
	isSyncAllowed bool
}

// AddTenant creates a tenant. It panics on a duplicate id: tests and demos
// set tenants up once.
func (s *Server) AddTenant(spec TenantSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strings.ToLower(spec.ID)
	if _, dup := s.tenants[id]; dup {
		panic(fmt.Sprintf("graphsim: tenant %s added twice", spec.ID))
	}
	t := &tenant{
		id: id, displayName: spec.DisplayName, domain: spec.Domain, consented: true,
		grants: map[string]bool{}, users: map[string]*user{}, groups: map[string]*group{},
		partners: map[string]*partner{}, apps: map[string]*application{}, sps: map[string]*servicePrincipal{},
		logs: &provisioningLog{}, failures: map[string][2]string{},
	}
	if t.domain == "" {
		t.domain = strings.ToLower(strings.ReplaceAll(spec.DisplayName, " ", "")) + ".onmicrosoft.com"
	}
	for _, p := range AllPermissions {
		t.grants[p] = true
	}
	for _, u := range spec.Users {
		t.users[strings.ToLower(u.ID)] = &user{id: strings.ToLower(u.ID), displayName: u.DisplayName, upn: u.UserPrincipalName, userType: "Member",
			attrs: u.Attributes, created: s.now()}
	}
	for _, g := range spec.Groups {
		t.groups[strings.ToLower(g.ID)] = &group{id: strings.ToLower(g.ID), displayName: g.DisplayName, members: lowerAll(g.Members)}
	}
	s.tenants[id] = t
}

// Revoke withdraws application permissions from the client app in a tenant.
// Unlike Entra, which waits for a new token, the change applies at once.
func (s *Server) Revoke(tenantID string, permissions ...string) {
	s.withTenant(tenantID, func(t *tenant) {
		for _, p := range permissions {
			delete(t.grants, p)
		}
	})
}

// Grant gives application permissions to the client app in a tenant.
func (s *Server) Grant(tenantID string, permissions ...string) {
	s.withTenant(tenantID, func(t *tenant) {
		for _, p := range permissions {
			t.grants[p] = true
		}
	})
}

// SetConsented controls whether the client app is consented in the tenant;
// without consent the token endpoint refuses it (AADSTS700016).
func (s *Server) SetConsented(tenantID string, consented bool) {
	s.withTenant(tenantID, func(t *tenant) { t.consented = consented })
}

func (s *Server) withTenant(id string, fn func(t *tenant)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[strings.ToLower(id)]
	if !ok {
		panic("graphsim: unknown tenant " + id)
	}
	fn(t)
}

// Snapshot is a read-only view of a tenant for assertions.
type Snapshot struct {
	Partners          []PartnerView          `json:"partners"`
	ServicePrincipals []ServicePrincipalView `json:"servicePrincipals"`
	Users             []UserView             `json:"users"`
}

// PartnerView shows one partner configuration.
type PartnerView struct {
	TenantID        string            `json:"tenantId"`
	InboundAllowed  *bool             `json:"inboundAllowed"`
	OutboundAllowed *bool             `json:"outboundAllowed"`
	IdentitySync    *IdentitySyncView `json:"identitySynchronization,omitempty"`
	InboundTrust    any               `json:"inboundTrust,omitempty"`
}

// IdentitySyncView shows a partner's identity synchronization policy.
type IdentitySyncView struct {
	DisplayName   string `json:"displayName"`
	IsSyncAllowed bool   `json:"isSyncAllowed"`
}

// ServicePrincipalView shows a configuration app's service principal.
type ServicePrincipalView struct {
	ID          string            `json:"id"`
	AppID       string            `json:"appId"`
	DisplayName string            `json:"displayName"`
	TemplateID  string            `json:"templateId"`
	Jobs        []JobView         `json:"jobs"`
	Assignments []AssignmentView  `json:"assignments"`
	Secrets     map[string]string `json:"secrets"`
}

// JobView shows a synchronization job.
type JobView struct {
	ID               string `json:"id"`
	TemplateID       string `json:"templateId"`
	ScheduleState    string `json:"scheduleState"`
	StatusCode       string `json:"statusCode"`
	QuarantineReason string `json:"quarantineReason,omitempty"`
	Cycles           int    `json:"cycles"`
}

// AssignmentView shows an app role assignment.
type AssignmentView struct {
	ID            string `json:"id"`
	PrincipalID   string `json:"principalId"`
	PrincipalType string `json:"principalType"`
	AppRoleID     string `json:"appRoleId"`
}

// UserView shows a user; B2B members created by synchronization carry their origin.
type UserView struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName"`
	UserType       string `json:"userType"`
	ExternalTenant string `json:"externalTenant,omitempty"`
	ExternalUser   string `json:"externalUser,omitempty"`
	Deleted        bool   `json:"deleted,omitempty"`
}

// Tenant returns a snapshot of a tenant's state, sorted for stable comparison.
func (s *Server) Tenant(id string) Snapshot {
	snap := Snapshot{Partners: []PartnerView{}, ServicePrincipals: []ServicePrincipalView{}, Users: []UserView{}}
	s.withTenant(id, func(t *tenant) {
		for _, p := range t.partners {
			pv := PartnerView{TenantID: p.tenantID, InboundAllowed: p.inboundAllowed, OutboundAllowed: p.outboundAllowed, InboundTrust: p.inboundTrust}
			if p.identitySync != nil {
				pv.IdentitySync = &IdentitySyncView{DisplayName: p.identitySync.displayName, IsSyncAllowed: p.identitySync.isSyncAllowed}
			}
			snap.Partners = append(snap.Partners, pv)
		}
		for _, sp := range t.sps {
			v := ServicePrincipalView{ID: sp.id, AppID: sp.appID, DisplayName: sp.displayName, TemplateID: sp.templateID, Secrets: map[string]string{},
				Jobs: []JobView{}, Assignments: []AssignmentView{}}
			for k, val := range sp.secrets {
				v.Secrets[k] = val
			}
			for _, j := range sp.jobs {
				jv := JobView{ID: j.id, TemplateID: j.templateID, ScheduleState: j.scheduleState, StatusCode: j.statusCode, Cycles: j.cycles}
				if j.quarantine != nil {
					jv.QuarantineReason = j.quarantine.reason
				}
				v.Jobs = append(v.Jobs, jv)
			}
			for _, a := range sp.assignments {
				v.Assignments = append(v.Assignments, AssignmentView{ID: a.id, PrincipalID: a.principalID, PrincipalType: a.principalType, AppRoleID: a.appRoleID})
			}
			sort.Slice(v.Jobs, func(i, j int) bool { return v.Jobs[i].ID < v.Jobs[j].ID })
			sort.Slice(v.Assignments, func(i, j int) bool { return v.Assignments[i].PrincipalID < v.Assignments[j].PrincipalID })
			snap.ServicePrincipals = append(snap.ServicePrincipals, v)
		}
		for _, u := range t.users {
			snap.Users = append(snap.Users, UserView{ID: u.id, DisplayName: u.displayName, UserType: u.userType, ExternalTenant: u.externalTenant, ExternalUser: u.externalUser, Deleted: u.deleted})
		}
	})
	sort.Slice(snap.Partners, func(i, j int) bool { return snap.Partners[i].TenantID < snap.Partners[j].TenantID })
	sort.Slice(snap.ServicePrincipals, func(i, j int) bool { return snap.ServicePrincipals[i].ID < snap.ServicePrincipals[j].ID })
	sort.Slice(snap.Users, func(i, j int) bool { return snap.Users[i].ID < snap.Users[j].ID })
	return snap
}

func lowerAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}
