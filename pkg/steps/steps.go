// Package steps holds one handler per cross-tenant synchronization step, in
// the order of Microsoft's article. Each is an idempotent ensure: it reads
// the tenant, acts only where the tenant differs from what the onboarding
// asks for, and returns the event that reports its outcome. No step knows
// which step comes next; the wiring (package onboarding) declares that.
//
// A step that finds Entra still replicating an object ctsync created answers
// "not yet" (an outcome.Wait), which the router requeues without counting an
// attempt and bounds by the replication window.
package steps

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/store"
)

// Options tune the steps' waits for Entra's eventual consistency.
type Options struct {
	// ReplicationWindow is how long a created object may stay unreadable
	// before ctsync concludes it is gone, and how long a create whose answer
	// was lost is given to show up before ctsync creates again. Community
	// scripts wait about a minute; the default is 3 minutes.
	ReplicationWindow time.Duration
	// ReplicationPoll is the delay ctsync asks for between reads while waiting.
	ReplicationPoll time.Duration
	// MonitorInterval is the delay between the monitor's reads of a running job.
	MonitorInterval time.Duration
	// MonitorChecks bounds how often the monitor re-reads a job that never
	// settles (0: 288, a day at the default interval).
	MonitorChecks int
	Now           func() time.Time
}

func (o *Options) defaults() {
	if o.ReplicationWindow == 0 {
		o.ReplicationWindow = 3 * time.Minute
	}
	if o.ReplicationPoll == 0 {
		o.ReplicationPoll = 5 * time.Second
	}
	if o.MonitorInterval == 0 {
		o.MonitorInterval = 5 * time.Minute
	}
	if o.MonitorChecks == 0 {
		o.MonitorChecks = 288
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// State is what the steps keep beside the tenants: the create-once
// intents, and each pair's record (what the onboarding found before it
// changed anything, which offboarding puts back).
type State interface {
	store.Intents
	GetPair(ctx context.Context, source, target string) (store.Pair, bool, error)
	UpdatePair(ctx context.Context, source, target string, fn func(p *store.Pair) error) (store.Pair, error)
}

// Steps performs the onboarding and offboarding steps against the tenants'
// directories.
type Steps struct {
	dirs    entra.Directories
	intents State
	opts    Options
}

// New returns the steps.
func New(dirs entra.Directories, state State, opts Options) *Steps {
	opts.defaults()
	return &Steps{dirs: dirs, intents: state, opts: opts}
}

// Options returns the options in effect, defaults filled in.
func (s *Steps) Options() Options { return s.opts }

func (s *Steps) now() time.Time { return s.opts.Now() }

func (s *Steps) source(ctx context.Context, in events.Onboarding) (entra.Directory, error) {
	return s.dirs.Tenant(ctx, in.SourceTenantID)
}

func (s *Steps) target(ctx context.Context, in events.Onboarding) (entra.Directory, error) {
	return s.dirs.Tenant(ctx, in.TargetTenantID)
}

// sourceJob reads the onboarding's synchronization job. A 404 for a job
// ctsync created moments ago is replication lag, not absence.
func (s *Steps) sourceJob(ctx context.Context, in events.Onboarding) (entra.Directory, entra.Job, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return nil, entra.Job{}, err
	}
	job, err := source.GetJob(ctx, in.ServicePrincipalID, in.JobID)
	if !fault.Is(err, fault.NotFound) {
		return source, job, err
	}
	if ws := outcome.WaitStateOf(ctx); ws.Over {
		// Missing for longer than Entra takes to replicate: someone deleted it.
		return nil, entra.Job{}, &drifted{events.Drift{
			OnboardingID: in.OnboardingID, SourceTenantID: in.SourceTenantID, TargetTenantID: in.TargetTenantID,
			ConfigurationName: in.ConfigurationName, ServicePrincipalID: in.ServicePrincipalID, JobID: in.JobID,
			Setting:  "synchronizationJob",
			Expected: "job " + in.JobID + " exists",
			Actual: fmt.Sprintf("job deleted outside ctsync: not found since %s, longer than the replication window of %s",
				ws.Since.UTC().Format(time.RFC3339), s.opts.ReplicationWindow),
			Remedy: "if the deletion was not intended, run the onboarding again (ctsync onboard with the same tenants and name) to create a new job; " +
				"if it was, offboard the pair",
		}}
	}
	return nil, entra.Job{}, s.notYet(string(entra.OpGetJob), "job %s is not readable yet (replication)", in.JobID)
}

// emit is the answer of an ensure step that is done: the one event that
// reports its outcome.
func emit(t events.Type, data any) (outcome.Result, error) { return outcome.Of(t, data) }

// waiting is how a helper deep inside a step says "not yet" (Entra has not
// caught up): it returns through the helpers like an error and Handle turns
// it into an outcome.Wait, so it never reaches the router as a failure.
type waiting struct{ outcome.Wait }

func (w *waiting) Error() string { return w.Reason }

// drifted is how a helper deep inside a step says "what ctsync made is gone
// or changed": Handle turns it into the step's one event, drift.detected.
type drifted struct{ events.Drift }

func (d *drifted) Error() string { return d.Setting + ": " + d.Actual }

// notYet is the answer while Entra catches up: look again after the
// replication poll. op names the call that showed the lag.
func (s *Steps) notYet(op, format string, args ...any) error {
	return &waiting{outcome.Wait{After: s.opts.ReplicationPoll, Op: op, Reason: fmt.Sprintf(format, args...)}}
}

// Handle adapts a step to the router: it takes the data the event carries
// (decoded once, when the message was parsed) and turns a "not yet" into a
// wait. T is events.Onboarding for the onboarding steps and
// events.JobStatus for the monitor.
func Handle[T any](step func(context.Context, T) (outcome.Result, error)) func(context.Context, events.Event) (outcome.Result, error) {
	return func(ctx context.Context, ev events.Event) (outcome.Result, error) {
		in, ok := ev.Payload().(*T)
		if !ok || in == nil {
			return outcome.Result{}, fault.New(fault.Invalid, string(ev.Type), "a %s event does not carry the data this step needs", ev.Type)
		}
		res, err := step(ctx, *in)
		var w *waiting
		if errors.As(err, &w) {
			return outcome.Result{Wait: &w.Wait}, nil
		}
		var d *drifted
		if errors.As(err, &d) {
			note.Add(ctx, "drift: %s", d.Actual)
			return outcome.Of(events.DriftDetected, d.Drift)
		}
		return res, err
	}
}

func ptr[T any](v T) *T { return &v }

func isTrue(b *bool) bool { return b != nil && *b }
