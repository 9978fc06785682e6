package steps

import (
	"context"
	"strings"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// EnsureSchema puts the pair's scoping filters and attribute mappings into
// the job's schema, after the job exists and before anyone is provisioned.
// It reads the whole schema, edits the User→User mapping in place and PUTs
// the whole document back only when something differs: Graph replaces the
// schema on PUT (PATCH answers 404), and every PUT restarts provisioning,
// re-evaluating every user.
func (s *Steps) EnsureSchema(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	c := in.Configuration
	if c == nil || (c.ScopingFilters == nil && len(c.AttributeMappings) == 0) {
		note.Add(ctx, "no scoping filters or attribute mappings requested; schema left as it is")
		return emit(events.SourceSchemaEnsured, in)
	}
	source, err := s.source(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	schema, err := source.GetSchema(ctx, in.ServicePrincipalID, in.JobID)
	if fault.Is(err, fault.NotFound) {
		return outcome.Result{}, s.notYet(string(entra.OpGetSchema), "job %s is not readable yet (replication)", in.JobID)
	}
	if err != nil {
		return outcome.Result{}, err
	}
	changes, err := schema.Apply(*c)
	if err != nil {
		return outcome.Result{}, &fault.Error{Kind: fault.Invalid, Op: string(entra.OpPutSchema), Tenant: in.SourceTenantID,
			Message: err.Error(), Remedy: "correct the pair's attributeMappings in the desired-state file and apply it again"}
	}
	if len(changes) == 0 {
		note.Add(ctx, "schema already has the requested filters and mappings")
		return emit(events.SourceSchemaEnsured, in)
	}
	if c.ScopingFilters != nil {
		ops, err := source.FilterOperators(ctx, in.ServicePrincipalID, in.JobID)
		if err != nil {
			return outcome.Result{}, err
		}
		if err := entra.CheckOperators(*c, ops); err != nil {
			return outcome.Result{}, &fault.Error{Kind: fault.Invalid, Op: string(entra.OpFilterOperators), Tenant: in.SourceTenantID,
				Message: err.Error(), Remedy: "use an operator the job lists in the desired-state file and apply it again"}
		}
	}
	if err := source.PutSchema(ctx, in.ServicePrincipalID, in.JobID, schema); err != nil {
		return outcome.Result{}, err
	}
	var what []string
	for _, ch := range changes {
		what = append(what, ch.Setting)
	}
	note.Add(ctx, "schema updated: %s", strings.Join(what, ", "))
	return emit(events.SourceSchemaEnsured, in)
}
