package graphsim

import "strings"

// Changes made outside ctsync, as an administrator in the portal would make
// them, so tests can check that ctsync notices.

// DeleteJobs deletes every synchronization job of the source tenant's
// configuration apps and returns how many it deleted.
func (s *Server) DeleteJobs(sourceTenantID string) int {
	n := 0
	s.withTenant(sourceTenantID, func(t *tenant) {
		for _, sp := range t.sps {
			for id := range sp.jobs {
				delete(sp.jobs, id)
				n++
			}
		}
	})
	return n
}

// SetAutoConsent sets a partner configuration's automatic redemption
// flags behind ctsync's back (nil: unset, inheriting the default policy).
func (s *Server) SetAutoConsent(tenantID, partnerTenantID string, inbound, outbound *bool) {
	s.withTenant(tenantID, func(t *tenant) {
		if p, ok := t.partners[strings.ToLower(partnerTenantID)]; ok {
			p.inboundAllowed, p.outboundAllowed = inbound, outbound
		}
	})
}

// SetIdentitySync turns a partner's user synchronization on or off behind
// ctsync's back; remove deletes the policy instead.
func (s *Server) SetIdentitySync(tenantID, partnerTenantID string, allowed, remove bool) {
	s.withTenant(tenantID, func(t *tenant) {
		p, ok := t.partners[strings.ToLower(partnerTenantID)]
		switch {
		case !ok:
		case remove:
			p.identitySync = nil
		case p.identitySync != nil:
			p.identitySync.isSyncAllowed = allowed
		}
	})
}

// PauseJobs pauses every job of a tenant's configuration apps, as the
// portal's "Stop provisioning" does.
func (s *Server) PauseJobs(sourceTenantID string) {
	s.withTenant(sourceTenantID, func(t *tenant) {
		for _, sp := range t.sps {
			for _, j := range sp.jobs {
				j.scheduleState, j.statusCode = "Paused", "Paused"
			}
		}
	})
}

// DeleteConfigurationApps deletes every configuration app of a tenant (the
// service principal and the application, and so their jobs), as the
// portal's "Delete configuration" does.
func (s *Server) DeleteConfigurationApps(sourceTenantID string) {
	s.withTenant(sourceTenantID, func(t *tenant) {
		for id, sp := range t.sps {
			delete(t.apps, sp.appObjectID)
			delete(t.sps, id)
		}
	})
}

// UnassignPrincipal removes a principal's assignments to every
// configuration app of a tenant.
func (s *Server) UnassignPrincipal(sourceTenantID, principalID string) {
	s.withTenant(sourceTenantID, func(t *tenant) {
		for _, sp := range t.sps {
			kept := sp.assignments[:0]
			for _, a := range sp.assignments {
				if !strings.EqualFold(a.principalID, principalID) {
					kept = append(kept, a)
				}
			}
			sp.assignments = kept
		}
	})
}

// EditJobSchemas changes every job schema of a tenant with edit, as a
// person editing scoping filters or mappings in the portal would.
func (s *Server) EditJobSchemas(sourceTenantID string, edit func(schema map[string]any)) {
	s.withTenant(sourceTenantID, func(t *tenant) {
		for _, sp := range t.sps {
			for _, j := range sp.jobs {
				edit(j.schema)
			}
		}
	})
}
