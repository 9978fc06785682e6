package steps

import (
	"context"
	"fmt"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// ProvisionOnDemand provisions the first assigned user right away (step 11),
// a smoke test of the whole configuration before the job starts. The rule
// id is read from the job's schema (USER_INBOUND_USER) every time rather than
// assumed. Once the job was started (running or paused since), its cycles
// provision everyone and the step makes no call. A user already in the target comes back Skipped
// (RedundantExport), so a repeat is harmless.
func (s *Steps) ProvisionOnDemand(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, job, err := s.sourceJob(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	if job.ScheduleState == "Active" || job.ScheduleState == "Paused" {
		note.Add(ctx, "job started before (%s); its cycles provision every assigned user", job.ScheduleState)
		return emit(events.SourceOnDemandProvisioned, in)
	}
	if c := in.Configuration; c != nil && c.ProvisionOnDemand != nil && !*c.ProvisionOnDemand {
		note.Add(ctx, "provision on demand turned off for this pair (provisionOnDemand: false)")
		return emit(events.SourceOnDemandProvisioned, in)
	}
	rules, err := source.SynchronizationRules(ctx, in.ServicePrincipalID, in.JobID)
	if err != nil {
		return outcome.Result{}, err
	}
	ruleID := ""
	for _, r := range rules {
		if r.Name == entra.UserInboundRule {
			ruleID = r.ID
		}
	}
	if ruleID == "" {
		return outcome.Result{}, &fault.Error{Kind: fault.Invalid, Op: string(entra.OpGetSchema), Tenant: in.SourceTenantID,
			Message: "the job's schema has no " + entra.UserInboundRule + " rule",
			Remedy:  "the job was not created from the Azure2Azure template or its schema was edited; restore the default schema"}
	}
	user := in.Users[0]
	res, err := source.ProvisionOnDemand(ctx, in.ServicePrincipalID, in.JobID, ruleID, user)
	if err != nil {
		return outcome.Result{}, err
	}
	switch res.Result {
	case "Success":
		note.Add(ctx, "provisioned user %s on demand", user)
	case "Skipped":
		note.Add(ctx, "user %s skipped on demand (%s %s)", user, res.ErrorCode, res.Reason)
	case "Failure", "Failed":
		if res.ErrorCode == policyCheckFailure {
			return outcome.Result{}, policyFailureIsTransient(&fault.Error{Kind: fault.Invalid, Code: res.ErrorCode,
				Op: string(entra.OpProvisionOnDemand), Tenant: in.SourceTenantID, Message: res.Reason})
		}
		return outcome.Result{}, &fault.Error{Kind: fault.Invalid, Op: string(entra.OpProvisionOnDemand), Tenant: in.SourceTenantID, Code: res.ErrorCode,
			Message: fmt.Sprintf("provisioning user %s on demand failed: %s", user, res.Reason),
			Remedy:  "fix what the reason names for this user (see `ctsync logs --status failure`), or list another user first, then replay"}
	default:
		note.Add(ctx, "provision on demand for %s answered in a shape ctsync does not know; see the provisioning logs", user)
	}
	return emit(events.SourceOnDemandProvisioned, in)
}
