package steps

import (
	"context"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// ReadJobStatus reads the job once after it started (step 13), ending the
// onboarding chain. A job that has not run yet shows Entra's "not run"
// execution (state Failed, zero times, error None); that is reported as not
// run, not as a failure.
func (s *Steps) ReadJobStatus(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	_, job, err := s.sourceJob(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	status := jobStatus(in, job, 1)
	note.Add(ctx, "job %s: %s", in.JobID, describeStatus(status))
	return emit(events.SourceJobObserved, status)
}

func jobStatus(in events.Onboarding, job entra.Job, check int) events.JobStatus {
	st := events.JobStatus{Onboarding: in, StatusCode: orUnknown(job.StatusCode), ScheduleState: orUnknown(job.ScheduleState), Check: check}
	if e := job.LastExecution; e != nil && !e.NotRunYet() {
		st.LastExecutionState = e.State
		st.Exported, st.Escrowed = e.Exported, e.Escrowed
		if e.ErrorCode != "" && e.ErrorCode != "None" {
			st.LastExecutionError = events.Text(e.ErrorCode+": "+e.Message, 4000)
		}
	}
	if !job.SteadyState.IsZero() {
		st.SteadyStateSince = job.SteadyState.UTC().Format(time.RFC3339)
	}
	return st
}

func describeStatus(st events.JobStatus) string {
	s := "status " + st.StatusCode + ", schedule " + st.ScheduleState
	switch {
	case st.LastExecutionState == "":
		s += ", not run yet"
	default:
		s += ", last run " + st.LastExecutionState
	}
	if st.SteadyStateSince != "" {
		s += ", steady since " + st.SteadyStateSince
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}
