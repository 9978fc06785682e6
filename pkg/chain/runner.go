package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/store"
)

// Policy decides how failures are treated.
type Policy struct {
	// MaxAttempts is how many deliveries a retryable failure gets before the
	// message is dead-lettered. Default 15: at the default delays at least
	// 4.5 minutes, longer than Entra's replication usually takes.
	MaxAttempts int
	// BaseDelay doubles per attempt up to MaxDelay; Retry-After wins when
	// longer. Defaults 1 s and 60 s.
	BaseDelay, MaxDelay time.Duration
	// HandlerTimeout bounds one handler run. Default 4 minutes; hosts keep
	// their message lock longer than this.
	HandlerTimeout time.Duration
}

func (p *Policy) defaults() {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 15
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = time.Minute
	}
	if p.HandlerTimeout == 0 {
		p.HandlerTimeout = 4 * time.Minute
	}
}

// Retryable says which failures may pass if tried again: throttling and
// transient faults, and — because Entra is eventually consistent — objects
// not found or in conflict, which a later read may see differently. Denied
// and invalid wait for a person.
func (p Policy) Retryable(k fault.Kind) bool {
	switch k {
	case fault.Throttled, fault.Transient, fault.NotFound, fault.Conflict:
		return true
	}
	return false
}

// Delay is the wait before delivery attempt+1: exponential with jitter, or
// what the service asked for when that is longer.
func (p Policy) Delay(attempt int, retryAfter time.Duration) time.Duration {
	d := p.BaseDelay << min(attempt-1, 20)
	if d > p.MaxDelay || d <= 0 {
		d = p.MaxDelay
	}
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// Budget is the least total time a retryable failure is retried before it
// is dead-lettered (jitter never shortens a delay below half).
func (p Policy) Budget() time.Duration {
	var sum time.Duration
	for a := 1; a < p.MaxAttempts; a++ {
		d := p.BaseDelay << min(a-1, 20)
		if d > p.MaxDelay || d <= 0 {
			d = p.MaxDelay
		}
		sum += d / 2
	}
	return sum
}

// Report is one step outcome, for observers such as `ctsync onboard --wait`.
type Report struct {
	OnboardingID string
	Step, Title  string
	Event        events.Type
	Outcome      string // started, done, waiting, retrying, failed
	Attempt      int
	Note         string
	Err          error
	RetryIn      time.Duration
	Produced     []events.Type
	Took         time.Duration
}

// Runner processes deliveries: it parses and validates the event, runs the
// handler the table names, publishes what it produced and settles the
// delivery, retrying or dead-lettering failures.
type Runner struct {
	table     *Table
	bus       bus.Bus
	progress  store.Progress
	log       *slog.Logger
	policy    Policy
	now       func() time.Time
	mu        sync.Mutex
	observers map[int]func(Report)
	nextObs   int
}

// NewRunner wires a runner. progress may be nil.
func NewRunner(table *Table, b bus.Bus, progress store.Progress, log *slog.Logger, policy Policy) *Runner {
	policy.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{table: table, bus: b, progress: progress, log: log, policy: policy, now: time.Now}
}

// Policy returns the runner's failure policy.
func (r *Runner) Policy() Policy { return r.policy }

// Table returns the runner's table.
func (r *Runner) Table() *Table { return r.table }

// Observe registers fn to hear every step outcome; the returned func
// unregisters it.
func (r *Runner) Observe(fn func(Report)) (stop func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.observers == nil {
		r.observers = map[int]func(Report){}
	}
	id := r.nextObs
	r.nextObs++
	r.observers[id] = fn
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.observers, id)
	}
}

func (r *Runner) report(rep Report) {
	r.mu.Lock()
	fns := make([]func(Report), 0, len(r.observers))
	for _, fn := range r.observers {
		fns = append(fns, fn)
	}
	r.mu.Unlock()
	for _, fn := range fns {
		fn(rep)
	}
}

// Outgoing turns events into bus messages on the queues the table names.
func (r *Runner) Outgoing(evs ...events.Event) ([]bus.Outgoing, error) {
	out := make([]bus.Outgoing, 0, len(evs))
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			return nil, err
		}
		q, ok := r.table.QueueFor(ev.Type)
		if !ok {
			return nil, fmt.Errorf("no handler consumes %s events", ev.Type)
		}
		body, err := ev.Encode()
		if err != nil {
			return nil, err
		}
		out = append(out, bus.Outgoing{ID: ev.ID, Queue: q, Body: body, NotBefore: ev.NotBefore})
	}
	return out, nil
}

// Process handles one delivery to the end and settles it. It returns an
// error only when the settlement failed; the message then comes back when
// its lock expires, and handling it again is safe.
func (r *Runner) Process(ctx context.Context, d bus.Delivery) error {
	start := r.now()
	ev, err := events.Parse(d.Body)
	if err != nil {
		r.log.Warn("dead-lettering a malformed event", "queue", d.Queue, "message_id", d.ID, "error", err)
		r.recordMalformed(ctx, d.Body, err)
		return r.bus.DeadLetter(ctx, d, "InvalidEvent", err.Error())
	}
	if ev.CorrelationID == "" {
		ev.CorrelationID = onboardingID(ev)
		if ev.CorrelationID == "" {
			ev.CorrelationID = ev.ID
		}
	}
	route, ok := r.table.Route(ev.Type)
	if !ok {
		msg := fmt.Sprintf("no handler consumes %s events", ev.Type)
		r.log.Warn("dead-lettering an event nobody handles", "event_type", ev.Type, "event_id", ev.ID)
		return r.bus.DeadLetter(ctx, d, "UnroutableEvent", msg)
	}
	log := r.log.With("correlation_id", ev.CorrelationID, "event_id", ev.ID, "event_type", string(ev.Type), "step", route.Step, "attempt", d.DeliveryCount)
	rep := Report{OnboardingID: onboardingID(ev), Step: route.Step, Title: route.Title, Event: ev.Type, Attempt: d.DeliveryCount}
	r.recordStep(ctx, route, rep, store.StepRunning, store.StateRunning, "", "")
	r.report(withOutcome(rep, "started"))
	log.Info("step started")

	hctx, notes := note.With(ctx)
	produced, herr := r.run(hctx, route, ev, log)
	var out []bus.Outgoing
	if herr == nil {
		for i := range produced {
			produced[i].FollowFrom(ev, "/ctsync/steps/"+route.Step, i, r.now())
		}
		if out, err = r.Outgoing(produced...); err != nil {
			herr = &fault.Error{Kind: fault.Invalid, Op: route.Step, Message: "the handler produced an event that cannot be published: " + err.Error()}
		}
	}
	rep.Note, rep.Took = notes.String(), r.now().Sub(start)
	if herr == nil {
		if err := r.bus.Ack(ctx, d, out...); err != nil {
			log.Warn("acknowledgement failed; the message will be delivered again", "error", err)
			return err
		}
		for _, p := range produced {
			rep.Produced = append(rep.Produced, p.Type)
			r.recordProduced(ctx, p)
		}
		r.recordStep(ctx, route, rep, store.StepDone, r.stateAfter(produced), rep.Note, "")
		log.Info("step done", "note", rep.Note, "produced", rep.Produced, "took_ms", rep.Took.Milliseconds())
		r.report(withOutcome(rep, "done"))
		return nil
	}
	return r.fail(ctx, d, ev, route, rep, herr, log)
}

// run calls the handler with a timeout, turning a panic into an error.
func (r *Runner) run(ctx context.Context, route Route, ev events.Event, log *slog.Logger) (out []events.Event, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.policy.HandlerTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			log.Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			out, err = nil, fault.New(fault.Transient, route.Step, "handler panicked: %v", p)
		}
	}()
	return route.Handle(ctx, ev)
}

func (r *Runner) fail(ctx context.Context, d bus.Delivery, ev events.Event, route Route, rep Report, herr error, log *slog.Logger) error {
	rep.Err = herr
	if fault.Canceled(herr) && ctx.Err() != nil {
		// Shutting down: hand the message back at once for another worker or run.
		log.Info("step interrupted by shutdown; releasing the message")
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return r.bus.Retry(rctx, d, 0)
	}
	kind := fault.KindOf(herr)
	msg := events.Text(herr.Error(), 4000)
	if r.policy.Retryable(kind) && d.DeliveryCount < r.policy.MaxAttempts {
		rep.RetryIn = r.policy.Delay(d.DeliveryCount, fault.RetryAfterOf(herr))
		if err := r.bus.Retry(ctx, d, rep.RetryIn); err != nil {
			return err
		}
		detail := fmt.Sprintf("attempt %d of %d: %s; retrying in %s", d.DeliveryCount, r.policy.MaxAttempts, msg, rep.RetryIn.Round(time.Millisecond))
		r.recordStep(ctx, route, rep, store.StepWaiting, store.StateWaiting, detail, "")
		if fault.IsWait(herr) {
			log.Info("step waiting", "reason", msg, "retry_in_ms", rep.RetryIn.Milliseconds())
			r.report(withOutcome(rep, "waiting"))
			return nil
		}
		log.Warn("step will be retried", "kind", string(kind), "error", msg, "retry_in_ms", rep.RetryIn.Milliseconds())
		r.report(withOutcome(rep, "retrying"))
		return nil
	}
	reason := string(kind)
	var fe *fault.Error
	if errors.As(herr, &fe) && fe.Code != "" {
		reason += ": " + fe.Code
	}
	if r.policy.Retryable(kind) {
		msg = fmt.Sprintf("gave up after %d attempts: %s", d.DeliveryCount, msg)
	}
	remedy := events.Text(fault.RemedyOf(herr), 4000)
	var alerts []bus.Outgoing
	if failed, ok := r.stepFailed(ev, route, kind, msg, remedy, d.DeliveryCount); ok {
		var err error
		if alerts, err = r.Outgoing(failed); err != nil {
			log.Error("cannot publish step.failed", "error", err)
			alerts = nil
		}
	}
	if err := r.bus.DeadLetter(ctx, d, reason, msg, alerts...); err != nil {
		return err
	}
	r.recordStep(ctx, route, rep, store.StepFailed, store.StateFailed, msg, remedy)
	log.Error("step failed; message dead-lettered", "kind", string(kind), "reason", reason, "error", msg, "remedy", remedy)
	r.report(withOutcome(rep, "failed"))
	return nil
}

// stepFailed builds the alert for a failure, when the event carried
// onboarding data to attribute it to.
func (r *Runner) stepFailed(ev events.Event, route Route, kind fault.Kind, msg, remedy string, attempts int) (events.Event, bool) {
	var in events.Onboarding
	if ev.DecodeData(&in) != nil || in.OnboardingID == "" || in.SourceTenantID == "" || len(in.Users) == 0 {
		return events.Event{}, false
	}
	failed, err := events.New(events.StepFailed, events.StepFailure{Onboarding: in, Step: route.Step, Category: string(kind),
		Reason: msg, Remedy: remedy, Attempts: attempts, FailedEventID: events.Text(ev.ID, 256), FailedEventType: string(ev.Type)})
	if err != nil {
		return events.Event{}, false
	}
	failed.FollowFrom(ev, "/ctsync/chain", 0, r.now())
	return failed, true
}

func (r *Runner) stateAfter(produced []events.Event) string {
	for _, p := range produced {
		if p.Type == Completion {
			return store.StateCompleted
		}
	}
	return store.StateRunning
}

func withOutcome(rep Report, outcome string) Report {
	rep.Outcome = outcome
	return rep
}

func onboardingID(ev events.Event) string {
	var ids struct {
		OnboardingID string `json:"onboardingId"`
	}
	_ = json.Unmarshal(ev.Data, &ids)
	return ids.OnboardingID
}

// recordStep writes progress; progress is a view for people, so a failure
// to write it is logged, not fatal. Only onboarding steps move the
// onboarding's state.
func (r *Runner) recordStep(ctx context.Context, route Route, rep Report, stepState, onboardingState, detail, remedy string) {
	if r.progress == nil || rep.OnboardingID == "" {
		return
	}
	if !route.Onboarding {
		onboardingState = ""
	}
	st := store.Step{OnboardingID: rep.OnboardingID, Name: rep.Step, State: stepState, Attempts: rep.Attempt, Detail: detail, UpdatedAt: r.now()}
	if err := r.progress.SaveStep(ctx, st, onboardingState, remedy); err != nil {
		r.log.Warn("cannot record progress", "error", err, "onboarding_id", rep.OnboardingID)
	}
}

// recordProduced keeps the ids an event carries and, for job status events,
// what the job is doing.
func (r *Runner) recordProduced(ctx context.Context, ev events.Event) {
	if r.progress == nil {
		return
	}
	var st events.JobStatus
	if ev.DecodeData(&st) != nil || st.OnboardingID == "" {
		return
	}
	o := store.Onboarding{ID: st.OnboardingID, ServicePrincipalID: st.ServicePrincipalID, AppID: st.AppID, AppRoleID: st.AppRoleID,
		JobID: st.JobID, LastEvent: string(ev.Type), UpdatedAt: r.now()}
	if st.StatusCode != "" {
		o.JobStatus = st.StatusCode
		if st.LastExecutionState != "" {
			o.JobStatus += " (last run " + st.LastExecutionState + ")"
		}
	}
	if err := r.progress.SaveOnboarding(ctx, o); err != nil {
		r.log.Warn("cannot record progress", "error", err, "onboarding_id", st.OnboardingID)
	}
}

// recordMalformed marks the onboarding failed when a malformed event still
// names one, so `ctsync status` shows why it stopped.
func (r *Runner) recordMalformed(ctx context.Context, body []byte, perr error) {
	var probe struct {
		Data struct {
			OnboardingID string `json:"onboardingId"`
		} `json:"data"`
	}
	if r.progress == nil || json.Unmarshal(body, &probe) != nil || !events.IsGUID(probe.Data.OnboardingID) {
		return
	}
	r.recordStep(ctx, Route{Onboarding: true}, Report{OnboardingID: probe.Data.OnboardingID, Step: "validate-event"}, store.StepFailed, store.StateFailed,
		events.Text(perr.Error(), 4000), "post a corrected event")
}
