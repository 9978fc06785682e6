package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// StartJob starts the synchronization job (step 12) unless its schedule is
// already active.
func (s *Steps) StartJob(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, job, err := s.sourceJob(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	if job.ScheduleState == "Active" {
		note.Add(ctx, "job already started")
		return emit(events.SourceJobStarted, in)
	}
	if err := source.StartJob(ctx, in.ServicePrincipalID, in.JobID); err != nil {
		return outcome.Result{}, err
	}
	note.Add(ctx, "started job %s", in.JobID)
	return emit(events.SourceJobStarted, in)
}
