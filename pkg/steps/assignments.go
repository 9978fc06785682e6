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

// EnsureAssignments assigns every requested user and group to the
// configuration app's msiam_access role (step 10): only assigned principals
// are in the job's scope. A desired-state file's pair is the whole truth
// (exactAssignments): assignments it does not list are removed, after
// `plan` showed the users who leave the scope with them.
func (s *Steps) EnsureAssignments(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	current, err := source.ListAssignments(ctx, in.ServicePrincipalID)
	if fault.Is(err, fault.NotFound) {
		return outcome.Result{}, s.notYet(string(entra.OpListAssignments), "service principal %s is not readable yet (replication)", in.ServicePrincipalID)
	}
	if err != nil {
		return outcome.Result{}, err
	}
	assigned := map[string]bool{}
	wanted := map[string]bool{}
	for _, principal := range append(append([]string(nil), in.Users...), in.Groups...) {
		wanted[strings.ToLower(principal)] = true
	}
	removed := 0
	for _, a := range current {
		if !strings.EqualFold(a.AppRoleID, in.AppRoleID) {
			continue
		}
		if in.Configuration != nil && in.Configuration.ExactAssignments && !wanted[strings.ToLower(a.PrincipalID)] {
			if err := source.Unassign(ctx, in.ServicePrincipalID, a.ID); err != nil && !fault.Is(err, fault.NotFound) {
				return outcome.Result{}, err
			}
			removed++
			continue
		}
		assigned[strings.ToLower(a.PrincipalID)] = true
	}
	added, present := 0, 0
	for _, principal := range append(append([]string(nil), in.Users...), in.Groups...) {
		if assigned[strings.ToLower(principal)] {
			present++
			continue
		}
		_, err := source.Assign(ctx, in.ServicePrincipalID, in.AppRoleID, principal)
		switch {
		case err == nil:
			added++
		case fault.Is(err, fault.Conflict):
			present++ // assigned by an earlier attempt whose answer was lost, or not listed yet
		case fault.Is(err, fault.NotFound) && mentions(err, principal):
			return outcome.Result{}, &fault.Error{Kind: fault.Invalid, Op: string(entra.OpAssign), Tenant: in.SourceTenantID,
				Message: "principal " + principal + " does not exist in the source tenant",
				Remedy:  "check the object id of that user or group in the source tenant and post a corrected onboarding"}
		case fault.Is(err, fault.NotFound):
			return outcome.Result{}, s.notYet(string(entra.OpAssign), "service principal %s is not readable yet (replication)", in.ServicePrincipalID)
		default:
			return outcome.Result{}, err
		}
	}
	if removed > 0 {
		note.Add(ctx, "assigned %d principal(s), %d already assigned, removed %d not in the file", added, present, removed)
	} else {
		note.Add(ctx, "assigned %d principal(s), %d already assigned", added, present)
	}
	return emit(events.SourceAssignmentsEnsured, in)
}

func mentions(err error, id string) bool {
	return strings.Contains(strings.ToLower(err.Error()), strings.ToLower(id))
}
