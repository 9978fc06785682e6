// Package app wires ctsync together for the local host: state directory,
// embedded queue and store, Graph client, steps, chain table and runner. The
// CLI, the demo and the end-to-end tests all start here.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/host/local"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

// Config is everything the local host needs.
type Config struct {
	StateDir string
	// StateOnNetworkFilesystem says StateDir is a network share (cloud
	// hosts), where the database must not use a write-ahead log.
	StateOnNetworkFilesystem bool
	Graph                    graph.Config
	Steps                    steps.Options
	Policy                   chain.Policy
	Workers                  int
	// Lock overrides the message lock duration (tests shorten it).
	Lock time.Duration
	Poll time.Duration
	Log  *slog.Logger
}

// DefaultStateDir is $CTSYNC_STATE_DIR, else $XDG_STATE_HOME/ctsync, else
// ~/.local/state/ctsync.
func DefaultStateDir(getenv func(string) string) string {
	if d := getenv("CTSYNC_STATE_DIR"); d != "" {
		return d
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ctsync")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "ctsync")
	}
	return ".ctsync"
}

// App is a wired local ctsync.
type App struct {
	DB     *sql.DB
	Bus    *bus.Embedded
	Store  *store.Embedded
	Graph  *graph.Client
	Steps  *steps.Steps
	Table  *chain.Table
	Runner *chain.Runner
	Host   *local.Host
	Log    *slog.Logger
	policy chain.Policy
}

// OpenState opens only the state directory (queue and store), for commands
// that do not talk to Graph (status, logs, dlq).
func OpenState(dir string) (*sql.DB, *bus.Embedded, *store.Embedded, error) {
	return openState(dir, localdb.Options{})
}

func openState(dir string, opts localdb.Options) (*sql.DB, *bus.Embedded, *store.Embedded, error) {
	db, err := localdb.OpenWith(dir, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := bus.NewEmbedded(db)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	s, err := store.NewEmbedded(db)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return db, b, s, nil
}

// Open wires the whole local host.
func Open(cfg Config) (*App, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gc, err := graph.New(cfg.Graph)
	if err != nil {
		return nil, err
	}
	db, b, s, err := openState(cfg.StateDir, localdb.Options{NetworkFilesystem: cfg.StateOnNetworkFilesystem})
	if err != nil {
		return nil, err
	}
	st := steps.New(gc, s, cfg.Steps)
	routes := chain.OnboardingRoutes(st)
	routes = append(routes, chain.MonitorRoutes(st)...)
	routes = append(routes, chain.AlertRoutes(log)...)
	table, err := chain.NewTable(routes...)
	if err != nil {
		db.Close()
		return nil, err
	}
	runner := chain.NewRunner(table, b, s, log, cfg.Policy)
	policy := runner.Policy()
	if budget, window := runner.Policy().Budget(), st.Options().ReplicationWindow; budget < window {
		db.Close()
		return nil, fmt.Errorf("retries give up after %s, sooner than the replication window of %s: a create still replicating "+
			"would be dead-lettered; raise the retry attempts or delays, or shorten the window", budget.Round(time.Millisecond), window)
	}
	// The queue's own poison limit sits above the runner's, so the runner's
	// dead letter (with a reason a person can act on) comes first.
	b.MaxDeliveryCount = runner.Policy().MaxAttempts + 3
	host := &local.Host{Runner: runner, Bus: b, Workers: cfg.Workers, Lock: cfg.Lock, Poll: cfg.Poll, Log: log}
	return &App{DB: db, Bus: b, Store: s, Graph: gc, Steps: st, Table: table, Runner: runner, Host: host, Log: log, policy: policy}, nil
}

// RunnerOn returns a runner for the same chain that settles through b: how
// a cloud host, which receives messages from its platform, runs the steps.
func (a *App) RunnerOn(b bus.Bus) *chain.Runner {
	return chain.NewRunner(a.Table, b, a.Store, a.Log, a.policy)
}

// Close releases the state directory.
func (a *App) Close() error { return a.DB.Close() }

// Request is what an onboarding asks for.
type Request struct {
	SourceTenantID string
	TargetTenantID string
	Name           string
	Users          []string
	Groups         []string
	RequestedBy    string
}

// Submit validates a request, records it and posts onboarding.requested.
// It returns the onboarding id.
func Submit(ctx context.Context, b bus.Publisher, progress store.Progress, r Request) (string, error) {
	id := uuid.NewString()
	in := events.Onboarding{
		OnboardingID: id, SourceTenantID: strings.ToLower(strings.TrimSpace(r.SourceTenantID)),
		TargetTenantID: strings.ToLower(strings.TrimSpace(r.TargetTenantID)), ConfigurationName: strings.TrimSpace(r.Name),
		Users: lowerAll(r.Users), Groups: lowerAll(r.Groups), RequestedBy: r.RequestedBy,
	}
	ev, err := events.New(events.OnboardingRequested, in)
	if err != nil {
		return "", err
	}
	ev.Stamp("/ctsync/cli", id, id, time.Now())
	if err := ev.Validate(); err != nil {
		var ve *events.ValidationError
		if errors.As(err, &ve) {
			return "", fmt.Errorf("%s: %s", flagName(ve.Field), ve.Problem)
		}
		return "", err
	}
	return Accept(ctx, b, progress, ev)
}

// Accept records a valid onboarding.requested event as requested and posts
// it to the first step's queue: the path of every intake (CLI, HTTP).
func Accept(ctx context.Context, b bus.Publisher, progress store.Progress, ev events.Event) (string, error) {
	var in events.Onboarding
	if err := ev.DecodeData(&in); err != nil {
		return "", err
	}
	if ev.CorrelationID == "" {
		ev.CorrelationID = in.OnboardingID
	}
	if ev.Subject == "" {
		ev.Subject = in.OnboardingID
	}
	body, err := ev.Encode()
	if err != nil {
		return "", err
	}
	if err := progress.SaveOnboarding(ctx, store.Onboarding{ID: in.OnboardingID, SourceTenantID: in.SourceTenantID, TargetTenantID: in.TargetTenantID,
		Name: in.ConfigurationName, Users: in.Users, Groups: in.Groups, RequestedBy: in.RequestedBy, State: store.StateRequested}); err != nil {
		return "", err
	}
	// Published straight to the first step's queue: the table is the only
	// router, and onboarding.requested always goes to the same place.
	if err := b.Publish(ctx, bus.Outgoing{ID: ev.ID, Queue: FirstQueue, Body: body}); err != nil {
		return "", err
	}
	return in.OnboardingID, nil
}

// FirstQueue is the queue onboarding.requested goes to. A test checks it
// against the chain table.
const FirstQueue = "ensure-target-partner"

// flagName translates an event field into the CLI flag that sets it.
func flagName(field string) string {
	switch {
	case strings.HasPrefix(field, "data.sourceTenantId"):
		return "--source-tenant"
	case strings.HasPrefix(field, "data.targetTenantId"):
		return "--target-tenant"
	case strings.HasPrefix(field, "data.configurationName"):
		return "--name"
	case strings.HasPrefix(field, "data.users"):
		return "--user" + strings.TrimPrefix(field, "data.users")
	case strings.HasPrefix(field, "data.groups"):
		return "--group" + strings.TrimPrefix(field, "data.groups")
	}
	return field
}

func lowerAll(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Harvester returns a provisioning-log harvester that keeps records in the
// embedded store (for `ctsync logs`), writes them to the extra sinks and
// publishes provisioning.failed alerts through alerts (the local queue, or
// Service Bus in Azure).
func (a *App) Harvester(alerts bus.Publisher, sinks []harvest.Sink, opts harvest.Options) *harvest.Harvester {
	opts.Alerts = func(ctx context.Context, evs []events.Event) error {
		out, err := a.Runner.Outgoing(evs...)
		if err != nil {
			return err
		}
		return alerts.Publish(ctx, out...)
	}
	if opts.Log == nil {
		opts.Log = a.Log
	}
	return harvest.New(a.Graph, a.Store, append([]harvest.Sink{harvest.StoreSink{Store: a.Store}}, sinks...), opts)
}

// Watch notices when a step of the onboarding produces one of the event
// types. It observes from the moment it is created, so create it before
// running the host for whatever may produce them.
type Watch struct {
	a    *App
	stop func()
	mu   sync.Mutex
	got  events.Type
}

// Watch starts watching.
func (a *App) Watch(onboardingID string, types ...events.Type) *Watch {
	w := &Watch{a: a}
	w.stop = a.Runner.Observe(func(r chain.Report) {
		if r.OnboardingID != onboardingID || r.Outcome != "done" {
			return
		}
		for _, p := range r.Produced {
			for _, t := range types {
				if p == t {
					w.mu.Lock()
					w.got = t
					w.mu.Unlock()
				}
			}
		}
	})
	return w
}

// Seen returns the type seen, or "".
func (w *Watch) Seen() events.Type {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}

// Run runs the host until one of the types was produced (perhaps already),
// then stops watching.
func (w *Watch) Run(ctx context.Context) (events.Type, error) {
	defer w.stop()
	err := w.a.Host.RunUntil(ctx, func(context.Context) (bool, error) { return w.Seen() != "", nil })
	return w.Seen(), err
}
