// Package harvest collects provisioning logs (/auditLogs/provisioning) for
// every synchronization configuration, incrementally, losing nothing and
// delivering nothing twice:
//
//   - each configuration has a checkpoint: the activityDateTime of the newest
//     record delivered. A run reads from the checkpoint minus an overlap
//     window, in ascending time order, page by page ($top up to 500,
//     following @odata.nextLink), so records that show up late but inside
//     the window are caught; ids delivered inside the window are remembered
//     and skipped;
//   - a page goes to the sinks first, and the checkpoint advances only after
//     they accepted it, compare-and-swapped (package store), so two harvesters
//     never both commit a page. A crash in between is repaired on the next
//     run: the page is read again from the same checkpoint; a sink that names
//     its objects after the page (Blob Storage, S3) rewrites the same object,
//     and a sink that appends (a local file) is rewound to its committed
//     position first;
//   - one harvest runs at a time: it holds a short lease and renews it while
//     it works, so a harvester that dies is replaced within a lease period;
//   - requests are spaced by a per-tenant budget below the reports API's
//     limit (about 5 requests per 10 seconds per app per tenant), shared by
//     every configuration of the tenant, and a 429 pauses the whole tenant
//     for its Retry-After;
//   - a checkpoint older than the retention window (30 days) means records
//     were lost before ctsync could read them: that gap is reported loudly.
package harvest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/store"
)

// Options tune a harvester.
type Options struct {
	// Overlap re-reads this much before the checkpoint to catch late
	// records. Default 30 minutes.
	Overlap time.Duration
	// Retention is how long Microsoft keeps provisioning logs (30 days for
	// tenants with Entra ID P1/P2). A first harvest starts this far back.
	Retention time.Duration
	// PageSize is $top; default and maximum 500.
	PageSize int
	// Budget spaces requests per tenant; default 4 requests per 10 seconds.
	Budget *Budget
	// MaxThrottled is how many throttled answers in a row one page may get
	// before the configuration is given up for this run. Default 10.
	MaxThrottled int
	// Extra are configurations to harvest besides those ctsync set up.
	Extra []store.Configuration
	// AllowTenant, when set, is the tenant allow-list: configurations of
	// other source tenants are skipped (and logged), never read.
	AllowTenant func(tenantID string) bool
	// Lease is how long the harvest lease lasts unless renewed; it is
	// renewed every third of it while the harvest runs. Default 30 s.
	Lease time.Duration
	// Alerts publishes provisioning.failed events; nil publishes none.
	Alerts func(ctx context.Context, evs []events.Event) error
	// Progress is called after every page.
	Progress func(Progress)
	Log      *slog.Logger
	Now      func() time.Time
}

func (o *Options) defaults() {
	if o.Overlap == 0 {
		o.Overlap = 30 * time.Minute
	}
	if o.Retention == 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.PageSize <= 0 || o.PageSize > 500 {
		o.PageSize = 500
	}
	if o.Budget == nil {
		o.Budget = NewBudget(4, 10*time.Second)
	}
	if o.MaxThrottled == 0 {
		o.MaxThrottled = 10
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Progress reports a configuration's harvest after each page.
type Progress struct {
	Config    store.Configuration
	Pages     int
	Records   int // read, including ones already delivered
	Delivered int
	Elapsed   time.Duration
}

// Rate is records read per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Records) / p.Elapsed.Seconds()
}

// Gap is a stretch of logs that expired before ctsync read them.
type Gap struct {
	Config   store.Configuration
	From, To time.Time
}

// Summary describes one harvest run.
type Summary struct {
	Configurations int
	Pages          int
	Records        int
	Delivered      int
	Failures       int
	Gaps           []Gap
	Errors         []error
	Took           time.Duration
}

// Harvester collects provisioning logs into sinks.
type Harvester struct {
	dirs  entra.Directories
	store *store.Store
	sinks []Sink
	opts  Options
	// appending serializes deliver-and-commit across tenants when a sink
	// appends: its committed position must never run ahead of a page
	// another tenant has not committed yet.
	appending sync.Mutex
}

// New returns a harvester writing to sinks.
func New(dirs entra.Directories, st *store.Store, sinks []Sink, opts Options) *Harvester {
	opts.defaults()
	return &Harvester{dirs: dirs, store: st, sinks: sinks, opts: opts}
}

// ErrBusy means another harvest holds the lease.
var ErrBusy = errors.New("another harvest is running")

const leaseName = "harvest"

// Run harvests every configuration once. Tenants are harvested in parallel,
// the configurations of one tenant one after another.
func (h *Harvester) Run(ctx context.Context) (Summary, error) {
	start := h.opts.Now()
	lease, ok, err := h.store.AcquireLease(ctx, leaseName, leaseHolder(), h.opts.Lease)
	if err != nil {
		return Summary{}, err
	}
	if !ok {
		return Summary{}, fmt.Errorf("%w: %s holds the lease until %s", ErrBusy, lease.Holder, lease.Expires.Format(time.RFC3339))
	}
	ctx, stop := h.keep(ctx, lease)
	defer stop()
	if err := h.recoverSinks(ctx); err != nil {
		return Summary{}, err
	}
	configs, err := h.configurations(ctx)
	if err != nil {
		return Summary{}, err
	}
	byTenant := map[string][]store.Configuration{}
	var tenants []string
	for _, c := range configs {
		t := strings.ToLower(c.SourceTenantID)
		if byTenant[t] == nil {
			tenants = append(tenants, t)
		}
		byTenant[t] = append(byTenant[t], c)
	}
	var mu sync.Mutex
	sum := Summary{Configurations: len(configs)}
	var wg sync.WaitGroup
	for _, t := range tenants {
		wg.Add(1)
		go func(cfgs []store.Configuration) {
			defer wg.Done()
			for _, c := range cfgs {
				began := h.opts.Now()
				part, err := h.harvest(ctx, c)
				if err == nil && !c.RetiredAt.IsZero() && began.After(c.RetiredAt) {
					// The last harvest of an offboarded configuration.
					err = h.store.RetiredHarvested(ctx, c, began)
				}
				mu.Lock()
				sum.Pages += part.Pages
				sum.Records += part.Records
				sum.Delivered += part.Delivered
				sum.Failures += part.Failures
				sum.Gaps = append(sum.Gaps, part.Gaps...)
				if err != nil {
					sum.Errors = append(sum.Errors, fmt.Errorf("configuration %s (%s): %w", c.Key(), c.Name, err))
				}
				mu.Unlock()
				if ctx.Err() != nil {
					return
				}
			}
		}(byTenant[t])
	}
	wg.Wait()
	sum.Took = h.opts.Now().Sub(start)
	if ctx.Err() != nil {
		return sum, ctx.Err()
	}
	return sum, nil
}

// keep renews the lease while the harvest runs; if it is lost (this
// process stalled longer than a lease period and another harvester took
// over), the harvest stops. stop releases it.
func (h *Harvester) keep(ctx context.Context, lease store.Lease) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(h.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				renewed, err := h.store.RenewLease(ctx, lease, h.opts.Lease)
				if err != nil && ctx.Err() != nil {
					return // the harvest is over or shutting down
				}
				if err != nil {
					h.opts.Log.Error("harvest lease lost; stopping", "error", err)
					cancel(fmt.Errorf("harvest stopped: %w", err))
					return
				}
				lease = renewed
			}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			_ = h.store.ReleaseLease(context.WithoutCancel(ctx), lease)
			cancel(nil)
		})
	}
}

func leaseHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s pid %d run %s", host, os.Getpid(), hex.EncodeToString(b))
}

// recoverSinks rewinds sinks that accepted a page whose checkpoint never
// committed (a crash between the two).
func (h *Harvester) recoverSinks(ctx context.Context) error {
	for _, sink := range h.sinks {
		s, ok := sink.(Appender)
		if !ok {
			continue // names its objects after the page: nothing to undo
		}
		pos, err := s.Position(ctx)
		if err != nil {
			return fmt.Errorf("sink %s: %w", s.Name(), err)
		}
		committed, known, err := h.store.SinkPosition(ctx, s.Name())
		if err != nil {
			return err
		}
		if pos < 0 {
			continue // cannot rewind; delivers at least once
		}
		if !known {
			// First use: whatever the sink holds now is not ctsync's to undo.
			if err := h.store.SetSinkPosition(ctx, s.Name(), pos); err != nil {
				return err
			}
			continue
		}
		if pos <= committed {
			continue
		}
		h.opts.Log.Warn("rewinding a sink to its last checkpoint: a page was written but not checkpointed (interrupted run)",
			"sink", s.Name(), "from", pos, "to", committed)
		if err := s.Rewind(ctx, committed); err != nil {
			return fmt.Errorf("rewind sink %s: %w", s.Name(), err)
		}
	}
	return nil
}

func (h *Harvester) configurations(ctx context.Context) ([]store.Configuration, error) {
	configs, err := h.store.Configurations(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, c := range configs {
		seen[c.Key()] = true
	}
	for _, c := range h.opts.Extra {
		if !seen[c.Key()] {
			seen[c.Key()] = true
			configs = append(configs, c)
		}
	}
	if h.opts.AllowTenant != nil {
		kept := configs[:0]
		for _, c := range configs {
			if h.opts.AllowTenant(c.SourceTenantID) {
				kept = append(kept, c)
			} else {
				h.opts.Log.Warn("configuration skipped: its tenant is not in the allow-list", "tenant", c.SourceTenantID, "service_principal", c.ServicePrincipalID)
			}
		}
		configs = kept
	}
	sort.SliceStable(configs, func(i, j int) bool { return configs[i].Key() < configs[j].Key() })
	return configs, nil
}

// harvest reads one configuration's new records.
func (h *Harvester) harvest(ctx context.Context, cfg store.Configuration) (Summary, error) {
	var sum Summary
	started := h.opts.Now()
	dir, err := h.dirs.Tenant(ctx, cfg.SourceTenantID)
	if err != nil {
		return sum, err
	}
	cp, found, err := h.store.GetCheckpoint(ctx, cfg.Key())
	if err != nil {
		return sum, err
	}
	oldest := h.opts.Now().Add(-h.opts.Retention)
	after := oldest
	if found {
		after = cp.Watermark.Add(-h.opts.Overlap)
		if cp.Watermark.Before(oldest) {
			gap := Gap{Config: cfg, From: cp.Watermark, To: oldest}
			sum.Gaps = append(sum.Gaps, gap)
			h.opts.Log.Error("provisioning logs were lost: the last harvest is older than Microsoft's retention window, records between these times expired unread",
				"configuration", cfg.Key(), "name", cfg.Name, "from", gap.From, "to", gap.To, "retention", h.opts.Retention)
		}
		if after.Before(oldest) {
			after = oldest
		}
	}
	watermark := cp.Watermark
	next := ""
	defer func() {
		if err := h.store.ForgetSeen(context.WithoutCancel(ctx), cfg.Key(), watermark.Add(-h.opts.Overlap)); err != nil {
			h.opts.Log.Warn("cannot forget old seen ids", "configuration", cfg.Key(), "error", err)
		}
	}()
	for {
		page, err := h.fetch(ctx, dir, cfg, after, next)
		if err != nil {
			return sum, err
		}
		sum.Pages++
		sum.Records += len(page.Records)
		if len(page.Records) > 0 {
			for _, r := range page.Records {
				if r.ActivityDateTime.After(watermark) {
					watermark = r.ActivityDateTime
				}
			}
			if cp, err = h.commit(ctx, cfg, cp, page.Records, watermark, &sum); err != nil {
				return sum, err
			}
		}
		if h.opts.Progress != nil {
			h.opts.Progress(Progress{Config: cfg, Pages: sum.Pages, Records: sum.Records, Delivered: sum.Delivered, Elapsed: h.opts.Now().Sub(started)})
		}
		if page.NextLink == "" {
			return sum, nil
		}
		next = page.NextLink
	}
}

// commit delivers a page's new records to the sinks and the alerts, then
// advances the checkpoint from cp.
func (h *Harvester) commit(ctx context.Context, cfg store.Configuration, cp store.Checkpoint, recs []entra.LogRecord, watermark time.Time, sum *Summary) (store.Checkpoint, error) {
	if h.appends() {
		h.appending.Lock()
		defer h.appending.Unlock()
	}
	fresh, err := h.unseen(ctx, cp, recs)
	if err != nil {
		return cp, err
	}
	if err := h.deliver(ctx, Page{Config: cfg, Number: cp.Pages + 1}, fresh); err != nil {
		return cp, err
	}
	positions := map[string]int64{}
	for _, s := range h.sinks {
		pos, err := position(ctx, s)
		if err != nil {
			return cp, fmt.Errorf("sink %s: %w", s.Name(), err)
		}
		if pos >= 0 {
			positions[s.Name()] = pos
		}
	}
	seen := make([]store.SeenRecord, len(fresh))
	for i, r := range fresh {
		seen[i] = store.SeenRecord{ID: r.ID, Activity: r.ActivityDateTime}
		if r.Status == "failure" {
			sum.Failures++
		}
	}
	next, err := h.store.CommitPage(ctx, store.PageCommit{Config: cfg, Prev: cp, Watermark: watermark, Seen: seen,
		Overlap: h.opts.Overlap, Records: len(fresh), SinkPositions: positions})
	if errors.Is(err, store.ErrConflict) {
		return cp, fmt.Errorf("checkpoint: another harvester committed this configuration first (was this one's lease taken over?): %w", err)
	}
	if err != nil {
		return cp, fmt.Errorf("checkpoint: %w", err)
	}
	sum.Delivered += len(fresh)
	return next, nil
}

// appends reports whether a sink appends (and so has a position).
func (h *Harvester) appends() bool {
	for _, s := range h.sinks {
		if _, ok := s.(Appender); ok {
			return true
		}
	}
	return false
}

// position is an appending sink's position, or -1.
func position(ctx context.Context, s Sink) (int64, error) {
	if a, ok := s.(Appender); ok {
		return a.Position(ctx)
	}
	return -1, nil
}

// fetch reads one page within the tenant's budget, waiting out throttling.
func (h *Harvester) fetch(ctx context.Context, dir entra.Directory, cfg store.Configuration, after time.Time, next string) (entra.LogPage, error) {
	throttled, transient := 0, 0
	for {
		if err := h.opts.Budget.Wait(ctx, cfg.SourceTenantID); err != nil {
			return entra.LogPage{}, err
		}
		page, err := dir.ProvisioningLogs(ctx, entra.LogQuery{ServicePrincipalID: cfg.ServicePrincipalID, After: after, Top: h.opts.PageSize}, next)
		switch kind := fault.KindOf(err); {
		case err == nil:
			return page, nil
		case kind == fault.Throttled && throttled < h.opts.MaxThrottled:
			throttled++
			wait := fault.RetryAfterOf(err)
			if wait <= 0 {
				// No Retry-After: back off as Graph's guidance says, exponentially.
				wait = time.Duration(1<<min(throttled, 6)) * time.Second
			}
			h.opts.Log.Warn("reports API throttled; pausing the tenant", "tenant", cfg.SourceTenantID, "retry_after_ms", wait.Milliseconds())
			h.opts.Budget.Pause(cfg.SourceTenantID, wait)
		case kind == fault.Transient && transient < 3 && !fault.Canceled(err):
			transient++
			h.opts.Log.Warn("reading provisioning logs failed; retrying", "tenant", cfg.SourceTenantID, "error", err)
			if err := sleep(ctx, time.Duration(transient)*time.Second); err != nil {
				return entra.LogPage{}, err
			}
		default:
			return entra.LogPage{}, err
		}
	}
}

// unseen drops records delivered before (inside the overlap window) and
// repeats within the page.
func (h *Harvester) unseen(ctx context.Context, cp store.Checkpoint, recs []entra.LogRecord) ([]entra.LogRecord, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	seen, err := h.store.SeenAmong(ctx, cp, ids)
	if err != nil {
		return nil, err
	}
	fresh := make([]entra.LogRecord, 0, len(recs))
	for _, r := range recs {
		if !seen[r.ID] {
			seen[r.ID] = true
			fresh = append(fresh, r)
		}
	}
	return fresh, nil
}

// deliver hands fresh records to every sink, and failures to the alerts.
func (h *Harvester) deliver(ctx context.Context, page Page, fresh []entra.LogRecord) error {
	if len(fresh) == 0 {
		return nil
	}
	cfg := page.Config
	for _, s := range h.sinks {
		if err := s.Accept(ctx, page, fresh); err != nil {
			return fmt.Errorf("sink %s: %w", s.Name(), err)
		}
	}
	if h.opts.Alerts == nil {
		return nil
	}
	var alerts []events.Event
	for _, r := range fresh {
		if r.Status == "failure" {
			alerts = append(alerts, failureEvent(cfg, r, h.opts.Now()))
		}
	}
	if len(alerts) == 0 {
		return nil
	}
	if err := h.opts.Alerts(ctx, alerts); err != nil {
		return fmt.Errorf("publish provisioning.failed: %w", err)
	}
	return nil
}

// failureEvent builds the alert for a failed record. Its id derives from the
// record's, so a page delivered again after a crash raises no second alert.
func failureEvent(cfg store.Configuration, r entra.LogRecord, now time.Time) events.Event {
	action := r.Action
	if action == "" {
		action = "other"
	}
	data := events.ProvisioningFailure{
		OnboardingID: cfg.OnboardingID, SourceTenantID: strings.ToLower(cfg.SourceTenantID), ServicePrincipalID: strings.ToLower(cfg.ServicePrincipalID),
		JobID: events.Text(r.JobID, 256), RecordID: events.Text(r.ID, 256), ActivityDateTime: r.ActivityDateTime.UTC().Format(time.RFC3339Nano),
		ProvisioningAction: events.Text(action, 64), ErrorCode: events.Text(r.ErrorCode, 256), Reason: events.Text(r.Reason, 4000),
		RecommendedAction: events.Text(r.RecommendedAction, 4000),
	}
	data.SourceIdentity = identityText(r.SourceName, r.SourceID)
	data.TargetIdentity = identityText(r.TargetName, r.TargetID)
	ev := events.MustNew(events.ProvisioningFailed, data)
	correlation := cfg.OnboardingID
	if correlation == "" {
		correlation = events.DeriveID(cfg.Key(), "harvest", 0)
	}
	ev.Stamp("/ctsync/harvest", correlation, strings.ToLower(cfg.ServicePrincipalID), now)
	ev.ID = events.DeriveID(r.ID, string(events.ProvisioningFailed), 0)
	return ev
}

// identityText is "name (id)", or whichever of the two is known.
func identityText(name, id string) string {
	switch {
	case name != "" && id != "":
		return events.Text(name+" ("+id+")", 512)
	case name != "":
		return events.Text(name, 512)
	}
	return events.Text(id, 512)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
