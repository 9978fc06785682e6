package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// StartJob starts the synchronization job (step 12) when it was never
// started. A job someone paused may have been paused on purpose: it is
// resumed only when the onboarding says so (apply --resume-jobs), and
// otherwise left paused and said so.
func (s *Steps) StartJob(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, job, err := s.sourceJob(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	switch {
	case job.ScheduleState == "Active" && job.Quarantine != nil && RestartsOutOfQuarantine(job.Quarantine.Reason):
		// The steps before ensured the policies whose absence quarantined
		// it: Microsoft's remedy is to fix the cause, then restart.
		if err := source.RestartJob(ctx, in.ServicePrincipalID, in.JobID, "QuarantineState"); err != nil {
			return outcome.Result{}, err
		}
		note.Add(ctx, "restarted job %s out of quarantine (%s), its cause ensured by the steps before", in.JobID, job.Quarantine.Reason)
		return emit(events.SourceJobStarted, in)
	case job.ScheduleState == "Active":
		note.Add(ctx, "job already started")
		return emit(events.SourceJobStarted, in)
	case job.ScheduleState == "Paused" && !in.ResumeJobs:
		note.Add(ctx, "job paused outside ctsync: left paused (apply --resume-jobs resumes it)")
		return emit(events.SourceJobStarted, in)
	}
	if err := source.StartJob(ctx, in.ServicePrincipalID, in.JobID); err != nil {
		return outcome.Result{}, err
	}
	note.Add(ctx, "started job %s", in.JobID)
	return emit(events.SourceJobStarted, in)
}

// RestartsOutOfQuarantine says whether a quarantine is one the onboarding's
// own steps cure: EncounteredQuarantineException (the job could not reach
// the target: partner policies, automatic redemption). Deletions held by
// the threshold wait for a person (approve-deletes), and escrows for the
// failing users to be fixed.
func RestartsOutOfQuarantine(reason string) bool { return reason == "EncounteredQuarantineException" }
