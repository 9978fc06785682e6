package onboarding

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/store"
)

// Recorder records an onboarding's progress from its steps' outcomes: the
// step's own record, and — for the steps of the onboarding chain proper —
// the onboarding's state. Monitor and alert steps are recorded but leave the
// onboarding's state alone; what they learn (the job's status, steady state,
// quarantine) is merged in.
type Recorder struct {
	chainSteps  map[string]bool
	maxAttempts int
	now         func() time.Time
}

// NewRecorder returns the recorder for the onboarding chain. maxAttempts is
// the router's, for "attempt 3 of 15".
func NewRecorder(maxAttempts int, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	r := &Recorder{chainSteps: map[string]bool{}, maxAttempts: maxAttempts, now: now}
	for _, s := range append(Steps(), OffboardingSteps()...) {
		r.chainSteps[s.Name] = true
	}
	return r
}

var _ chain.Recorder = (*Recorder)(nil)

// Record implements chain.Recorder.
func (r *Recorder) Record(m *chain.Message, o chain.Outcome) []store.Update {
	in, ok := events.OnboardingOf(m.Event)
	if !ok || in.OnboardingID == "" || o.Interrupted || o.Deferred {
		return nil
	}
	now := r.now()
	step := &store.Step{OnboardingID: in.OnboardingID, Name: m.Route.Step, Attempts: m.Attempt, Took: o.Took, UpdatedAt: now}
	head := &store.Onboarding{ID: in.OnboardingID, UpdatedAt: now}
	var state store.State
	switch {
	case o.Verdict == chain.Ack:
		step.State, step.Detail, state = store.StepDone, o.Note, store.StateRunning
		for _, p := range o.Produced {
			learn(head, p)
			switch p.Type {
			case Completion, OffboardingCompletion:
				state = store.StateCompleted
			case events.DriftDetected:
				// The chain cannot go on without what was deleted.
				state, step.Detail = store.StateFailed, head.Drift
			}
		}
	case o.Verdict == chain.Requeue && o.Wait != nil:
		step.State, step.Detail, state = store.StepWaiting, o.Wait.Reason, store.StateWaiting
	case o.Verdict == chain.Requeue:
		step.State, state = store.StepRetrying, store.StateWaiting
		step.Detail = fmt.Sprintf("attempt %d of %d: %s; retrying in %s", m.Attempt, r.maxAttempts,
			events.Text(errorText(o.Err), 4000), o.Delay.Round(time.Millisecond))
	case o.Verdict == chain.DeadLetter:
		step.State, step.Detail, state = store.StepFailed, o.Description, store.StateFailed
		head.Remedy = o.Remedy
	}
	if r.chainSteps[m.Route.Step] {
		head.State, head.Step, head.Detail = state, m.Route.Step, step.Detail
	}
	return []store.Update{{Step: step, Onboarding: head}}
}

// learn merges what a produced event carries into the onboarding: the ids
// later steps learned, the job's status, and the monitor's conclusion.
func learn(head *store.Onboarding, ev events.Event) {
	head.LastEvent = string(ev.Type)
	if in, ok := events.OnboardingOf(ev); ok {
		head.ServicePrincipalID, head.AppID, head.AppRoleID, head.JobID = in.ServicePrincipalID, in.AppID, in.AppRoleID, in.JobID
	}
	var st *events.JobStatus
	switch p := ev.Payload().(type) {
	case *events.JobStatus:
		st = p
	case *events.Quarantined:
		st = &p.JobStatus
	}
	if st != nil && st.StatusCode != "" {
		head.JobStatus = st.StatusCode
		if st.LastExecutionState != "" {
			head.JobStatus += " (last run " + st.LastExecutionState + ")"
		}
	}
	switch ev.Type {
	case events.SyncSteady:
		head.SyncState = store.SyncSteady
	case events.SyncQuarantined:
		head.SyncState = store.SyncQuarantined
	case events.DriftDetected:
		if d, ok := ev.Payload().(*events.Drift); ok {
			head.SyncState, head.Drift, head.Remedy = store.SyncDrifted, d.Actual, d.Remedy
			if d.Setting == "synchronizationJob" {
				head.JobStatus = "deleted outside ctsync"
			}
		}
	}
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Unreadable marks the onboarding failed when a malformed event still names
// one, so `ctsync status` shows why it stopped.
func (r *Recorder) Unreadable(body []byte, perr error) []store.Update {
	var probe struct {
		Data struct {
			OnboardingID string `json:"onboardingId"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &probe) != nil || !events.IsGUID(probe.Data.OnboardingID) {
		return nil
	}
	now, detail := r.now(), events.Text(perr.Error(), 4000)
	return []store.Update{{
		Step: &store.Step{OnboardingID: probe.Data.OnboardingID, Name: "validate-event", State: store.StepFailed, Detail: detail, UpdatedAt: now},
		Onboarding: &store.Onboarding{ID: probe.Data.OnboardingID, State: store.StateFailed, Step: "validate-event", Detail: detail,
			Remedy: "post a corrected event", UpdatedAt: now},
	}}
}
