package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// MonitorJob re-reads a started job until it reaches steady state. Between
// reads it does not sleep: it publishes its own re-check with a delay. A job
// entering quarantine raises sync.quarantined at once, with the remedy
// Microsoft documents for its reason, instead of the e-mail Entra sends up to
// a day later; monitoring goes on so the recovery is seen too.
func (s *Steps) MonitorJob(ctx context.Context, prev events.JobStatus) (outcome.Result, error) {
	source, job, err := s.sourceJob(ctx, prev.Onboarding)
	if err != nil {
		return outcome.Result{}, err
	}
	st := jobStatus(prev.Onboarding, job, prev.Check+1)
	note.Add(ctx, "check %d: %s", st.Check, describeStatus(st))

	var out []events.Event
	quarantined := job.Quarantine != nil || job.StatusCode == "Quarantine"
	// The first check alerts on a quarantine read-job-status already saw:
	// that step reports status, it raises no alert.
	if quarantined && (prev.StatusCode != "Quarantine" || prev.Check == 1) {
		q := events.Quarantined{JobStatus: st, QuarantineReason: "Unknown"}
		if job.Quarantine != nil {
			q.QuarantineReason = wordOr(job.Quarantine.Reason, "Unknown")
			q.QuarantineSince = timestamp(job.Quarantine.CurrentBegan)
			q.NextAttempt = timestamp(job.Quarantine.NextAttempt)
			if job.Quarantine.ErrorCode != "" && st.LastExecutionError == "" {
				q.LastExecutionError = events.Text(job.Quarantine.ErrorCode+": "+job.Quarantine.Message, 4000)
			}
		}
		q.Remedy = QuarantineRemedy(q.QuarantineReason)
		if q.QuarantineReason == "TooManyDeletes" {
			since := time.Time{}
			if job.Quarantine != nil {
				since = job.Quarantine.CurrentBegan
			}
			q.HeldDeletions, q.HeldDeletionCount = heldDeletions(ctx, source, st.ServicePrincipalID, since)
			q.Remedy = fmt.Sprintf("A cycle would delete at least the accidental-deletion threshold's number of users, so it deleted nobody and waits for a person. "+
				"Review who would go (heldDeletions; `ctsync logs --config %s` shows them as StagedDelete, `ctsync plan -f FILE` lists the users who left the scope). "+
				"If the deletions are intended, approve them: `ctsync approve-deletes --source-tenant %s --target-tenant %s --name %q` (a restart with ForceDeletes). "+
				"If not, restore the assignments or filters (apply the previous file) and restart the job.", st.ServicePrincipalID, st.SourceTenantID, st.TargetTenantID, st.ConfigurationName)
		}
		note.Add(ctx, "job entered quarantine (%s)", q.QuarantineReason)
		out = append(out, events.MustNew(events.SyncQuarantined, q))
	}
	steady := !quarantined && !job.SteadyState.IsZero() && st.LastExecutionState != "" && st.LastExecutionState != "Failed"
	switch {
	case steady:
		note.Add(ctx, "job reached steady state")
		return outcome.Emit(append(out, events.MustNew(events.SyncSteady, st))...), nil
	case st.Check >= s.opts.MonitorChecks:
		note.Add(ctx, "stopped monitoring after %d checks without steady state", st.Check)
		return outcome.Emit(out...), nil
	}
	next := events.MustNew(events.SyncProgressed, st)
	next.NotBefore = s.now().Add(s.opts.MonitorInterval)
	return outcome.Emit(append(out, next)...), nil
}

// QuarantineRemedy is Microsoft's documented remedy for a quarantine reason
// (application-provisioning-quarantine-status).
func QuarantineRemedy(reason string) string {
	const restart = " Then restart the job with resetScope QuarantineState (POST .../synchronization/jobs/{id}/restart) or start it; " +
		"until then Entra retries it less and less often (6, 12, 24 hours, then daily) and disables it after four weeks."
	switch reason {
	case "EncounteredQuarantineException":
		return "The job cannot connect or authenticate to the target tenant. Check the target's partner configuration for the source " +
			"(user synchronization allowed, inbound automatic redemption) and the source's outbound automatic redemption, and that both " +
			"tenants still hold Entra ID P1 or P2." + restart
	case "EncounteredBaseEscrowThreshold", "EncounteredTotalEscrowThreshold", "EncounteredEscrowProportionThreshold":
		return "Too many users failed to provision (escrows). Read the failures (`ctsync logs --status failure`), fix their cause, " +
			"then restart with resetScope Escrows,QuarantineState." + restart
	case "TooManyDeletes":
		return "A cycle wanted to delete more users than the accidental-deletion threshold allows. Review the pending deletions in the " +
			"provisioning logs; if they are intended, restart with resetScope ForceDeletes,QuarantineState, else fix the scope." + restart
	case "QuarantinedOnDemand":
		return "Someone quarantined the job on purpose." + restart
	case "IngestionInterrupted":
		return "Ingestion from the source was interrupted; check the source tenant's service health and the job's last error." + restart
	}
	return "Read status.quarantine.error on the job and the provisioning logs (`ctsync logs --status failure`) for the cause." + restart
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func wordOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
