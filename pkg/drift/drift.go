// Package drift is the drift timer's handler: on every host, beside the
// harvester, it re-reads every managed setting of every pair that apply
// recorded a desired configuration for — partner configurations,
// identity synchronization, automatic redemption both ways, the
// configuration app, the job's existence, schedule and quarantine, the
// assignments, the schema's scoping filters and mappings — and raises
// drift.detected for each setting that is no longer what the pair's record
// says, naming the pair, the setting, the expected and the actual value.
//
// It compares through the same planner as `ctsync plan`, so the timer and
// plan always agree on what drifted. It only reads: repairing is apply's
// job. Secrets cannot be read back from Graph and are never reported as
// drift. Each drift is alerted once, when it appears; the pair's record
// keeps what was reported, and is written only when that changes.
package drift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/desired"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/plan"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

// Detector checks every managed pair.
type Detector struct {
	Dirs  entra.Directories
	Store *store.Store
	// Alerts publishes drift.detected events (to the notify queue).
	Alerts func(ctx context.Context, evs []events.Event) error
	// AllowTenant is the allow-list; a pair naming another tenant is
	// skipped. nil allows every tenant.
	AllowTenant func(tenantID string) bool
	Log         *slog.Logger

	slotsMu sync.Mutex
	slots   map[string]chan struct{}
}

// Reads are paced per tenant like every other call: at most perTenant
// pairs touching one tenant are checked at once, workers in all, and a
// pair's check answered 429 is retried up to throttledRetries times, each
// after the Retry-After Graph asked for.
const (
	perTenant        = 2
	workers          = 8
	throttledRetries = 3
)

// Summary is what one run found.
type Summary struct {
	Pairs    int // managed pairs checked
	Drifted  int // pairs with drift
	Settings int // drifted settings
	New      int // drifted settings alerted for the first time
	Found    []events.Drift
	Errors   []error
	Took     time.Duration
}

// Run checks every pair apply manages once.
func (d *Detector) Run(ctx context.Context) (Summary, error) {
	start := time.Now()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	records, err := d.Store.ListPairs(ctx)
	if err != nil {
		return Summary{}, err
	}
	var managed []store.Pair
	for _, r := range records {
		switch {
		case len(r.Desired) == 0:
		case d.AllowTenant != nil && (!d.AllowTenant(r.SourceTenantID) || !d.AllowTenant(r.TargetTenantID)):
			d.Log.Warn("pair skipped: a tenant is not in the allow-list", "source_tenant", r.SourceTenantID, "target_tenant", r.TargetTenantID)
		default:
			managed = append(managed, r)
		}
	}
	var (
		mu  sync.Mutex
		sum = Summary{Pairs: len(managed)}
		wg  sync.WaitGroup
	)
	work := make(chan store.Pair)
	for range min(workers, max(len(managed), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				release := d.pace(r.SourceTenantID, r.TargetTenantID)
				found, fresh, err := d.check(ctx, r)
				release()
				mu.Lock()
				if err != nil {
					sum.Errors = append(sum.Errors, fmt.Errorf("pair %s → %s: %w", r.SourceTenantID, r.TargetTenantID, err))
				}
				sum.Found = append(sum.Found, found...)
				if len(found) > 0 {
					sum.Drifted++
					sum.Settings += len(found)
					sum.New += fresh
				}
				mu.Unlock()
			}
		}()
	}
	for _, r := range managed {
		select {
		case work <- r:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	sort.SliceStable(sum.Found, func(i, j int) bool {
		a, b := sum.Found[i], sum.Found[j]
		return a.SourceTenantID+a.TargetTenantID < b.SourceTenantID+b.TargetTenantID
	})
	sum.Took = time.Since(start)
	return sum, ctx.Err()
}

// pace takes a slot of both tenants (in a fixed order, so two workers
// never wait on each other) and returns their release.
func (d *Detector) pace(tenants ...string) func() {
	sort.Strings(tenants)
	var held []chan struct{}
	for _, t := range tenants {
		s := d.slot(strings.ToLower(t))
		s <- struct{}{}
		held = append(held, s)
	}
	return func() {
		for _, s := range held {
			<-s
		}
	}
}

func (d *Detector) slot(tenant string) chan struct{} {
	d.slotsMu.Lock()
	defer d.slotsMu.Unlock()
	if d.slots == nil {
		d.slots = map[string]chan struct{}{}
	}
	s, ok := d.slots[tenant]
	if !ok {
		s = make(chan struct{}, perTenant)
		d.slots[tenant] = s
	}
	return s
}

// check compares one pair with its record, alerts on drift not reported
// before and records what is reported now. It returns the drift found and
// how much of it was new.
func (d *Detector) check(ctx context.Context, r store.Pair) ([]events.Drift, int, error) {
	var want onboarding.Desired
	if err := json.Unmarshal(r.Desired, &want); err != nil {
		return nil, 0, fmt.Errorf("the pair's recorded desired configuration is unreadable: %w", err)
	}
	cfg := want.Configuration
	threshold := cfg.DeleteThreshold
	pair := desired.Pair{Name: want.ConfigurationName, SourceTenant: r.SourceTenantID, TargetTenant: r.TargetTenantID,
		Settings: desired.Settings{Users: want.Users, Groups: want.Groups, ScopingFilters: cfg.ScopingFilters,
			AttributeMappings: cfg.AttributeMappings, DeleteThreshold: &threshold, ProvisionOnDemand: cfg.ProvisionOnDemand}}
	planner := plan.Planner{Dirs: d.Dirs, SettingsOnly: true, CreatedApp: func(ctx context.Context, source, target string) (string, error) {
		return steps.CreatedApp(ctx, d.Store, source, target)
	}}
	var pp plan.Pair
	var err error
	for attempt := 0; ; attempt++ {
		pp, err = planner.Pair(ctx, pair)
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != fault.Throttled || attempt >= throttledRetries {
			break
		}
		wait := max(fe.RetryAfter, time.Second)
		d.Log.Info("drift check throttled; waiting as Graph asked", "tenant", fe.Tenant, "retry_after", wait)
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(min(wait, 5*time.Minute)):
		}
	}
	if err != nil {
		return nil, 0, err
	}
	found := Findings(pp)
	var now []string
	var fresh []events.Event
	reported := map[string]bool{}
	for _, k := range r.DriftReported {
		reported[k] = true
	}
	for _, f := range found {
		key := f.Setting + "|" + f.Expected + "|" + f.Actual
		now = append(now, key)
		if !reported[key] {
			ev := events.MustNew(events.DriftDetected, f)
			ev.Stamp("/ctsync/drift", strings.ToLower(r.SourceTenantID+"/"+r.TargetTenantID), f.Setting, time.Now())
			fresh = append(fresh, ev)
		}
	}
	sort.Strings(now)
	if strings.Join(now, "\n") != strings.Join(r.DriftReported, "\n") {
		if len(fresh) > 0 {
			// Alert before recording: a crash between them alerts again,
			// never not at all.
			if err := d.Alerts(ctx, fresh); err != nil {
				return found, 0, err
			}
		}
		if _, err := d.Store.UpdatePair(ctx, r.SourceTenantID, r.TargetTenantID, func(p *store.Pair) error {
			p.DriftReported = now
			return nil
		}); err != nil {
			return found, len(fresh), err
		}
	}
	for _, f := range found {
		d.Log.Warn("drift", "source_tenant", f.SourceTenantID, "target_tenant", f.TargetTenantID, "configuration", f.ConfigurationName,
			"setting", f.Setting, "expected", f.Expected, "actual", f.Actual)
	}
	return found, len(fresh), nil
}

// Findings turns a plan of a pair that should be present into drift: every
// change apply would make, and every change it only reports. Secrets,
// which cannot be read back, are never drift.
func Findings(pp plan.Pair) []events.Drift {
	var out []events.Drift
	for _, c := range pp.Changes {
		if c.Action == plan.Unobservable || strings.HasPrefix(c.Setting, "secrets") {
			continue
		}
		d := events.Drift{SourceTenantID: pp.SourceTenantID, TargetTenantID: pp.TargetTenantID, ConfigurationName: pp.Name,
			Setting: events.Text(c.Tenant+" "+c.Setting, 256)}
		switch c.Action {
		case plan.Create:
			d.Expected, d.Actual = orWord(c.To, "exists"), "missing"
		case plan.Remove:
			d.Expected, d.Actual = "absent", orWord(c.From, "present")
		case plan.Reported:
			d.Expected, d.Actual = orWord(c.To, "as ctsync made it"), orWord(c.From, "changed")
		default:
			d.Expected, d.Actual = orWord(c.To, "as ctsync made it"), orWord(c.From, "unset")
		}
		d.Expected, d.Actual = events.Text(d.Expected, 4000), events.Text(d.Actual, 4000)
		d.Remedy = "run `ctsync plan -f FILE` to see it and `ctsync apply -f FILE` to repair it"
		if c.Action == plan.Reported {
			d.Remedy = "changed outside ctsync, perhaps on purpose: apply leaves it alone unless told (" + remedyFlag(c.Setting) + ")"
		}
		out = append(out, d)
	}
	return out
}

func remedyFlag(setting string) string {
	switch {
	case strings.Contains(setting, "schedule"):
		return "apply --resume-jobs resumes the job"
	case strings.Contains(setting, "configuration app"):
		return "apply --recreate creates a new configuration app and job"
	}
	return "see the expected value for what to do"
}

func orWord(s, word string) string {
	if strings.TrimSpace(s) == "" {
		return word
	}
	return s
}
