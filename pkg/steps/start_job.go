package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/note"
)

// StartJob starts the synchronization job (step 12) unless its schedule is
// already active.
func (s *Steps) StartJob(ctx context.Context, in events.Onboarding) ([]events.Event, error) {
	source, job, err := s.sourceJob(ctx, in)
	if err != nil {
		return nil, err
	}
	if job.ScheduleState == "Active" {
		note.Add(ctx, "job already started")
		return outcome(events.SourceJobStarted, in)
	}
	if err := source.StartJob(ctx, in.ServicePrincipalID, in.JobID); err != nil {
		return nil, err
	}
	note.Add(ctx, "started job %s", in.JobID)
	return outcome(events.SourceJobStarted, in)
}
