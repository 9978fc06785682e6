package graphsim

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
