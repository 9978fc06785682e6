// Package app assembles ctsync per host from three parts, each built only
// where it is used:
//
//   - State: the embedded database (queue and store) of the local host;
//   - Chain: the steps on a Graph client, the chain table and the router's
//     middleware stack — what every host runs;
//   - Local: the local host itself (worker pool on the embedded queue),
//     for the CLI, the demo and `ctsync serve`.
//
// The cloud hosts build a Chain and a router that settles through their
// platform; they open no embedded queue and no local host.
package app

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/drift"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/host/local"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

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

// State is the embedded database: the durable queue, the store and the
// collected records, in one SQLite file, so a settlement and the progress it
// records commit together.
type State struct {
	DB      *sql.DB
	Bus     *bus.Embedded
	KV      *store.SQLite
	Store   *store.Store
	Records *store.Records
}

// OpenState opens (creating) the state directory.
func OpenState(dir string, opts localdb.Options) (*State, error) {
	db, err := localdb.OpenWith(dir, opts)
	if err != nil {
		return nil, err
	}
	st := &State{DB: db}
	if st.Bus, err = bus.NewEmbedded(db); err == nil {
		if st.KV, err = store.NewSQLite(db); err == nil {
			st.Records, err = store.NewRecords(db)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	st.Store = store.New(st.KV)
	return st, nil
}

// Close releases the state directory.
func (s *State) Close() error { return s.DB.Close() }

// atomic settles on the embedded queue, committing the settlement's
// progress in the same transaction.
func (s *State) atomic(updates []store.Update) bus.Settler {
	return s.Bus.Also(func(ctx context.Context, tx *sql.Tx) error {
		return store.New(s.KV.InTx(tx)).SaveProgress(ctx, updates...)
	})
}

// ChainConfig tunes the chain.
type ChainConfig struct {
	Steps  steps.Options
	Policy chain.Policy
	// HandlerTimeout bounds one handler run (default 4 minutes).
	HandlerTimeout time.Duration
	// Tenants is the allow-list (CTSYNC_ALLOWED_TENANTS); nil allows every tenant.
	Tenants *onboarding.Tenants
	// PerTenant caps the steps running at once against one tenant in one
	// process (CTSYNC_TENANT_CONCURRENCY); default 8.
	PerTenant int
	Log       *slog.Logger
}

// DefaultPerTenant is how many steps run at once against one tenant in one
// process unless configured: well inside Graph's per-app-per-tenant limits
// for the writes onboarding makes.
const DefaultPerTenant = 8

// DefaultWorkers is the local host's default concurrency: enough to keep
// hundreds of pairs moving while replication waits sit in the queue.
const DefaultWorkers = 32

// Chain is what every host runs: the steps on a Graph client, the table
// that routes events to them, and the router's middleware.
type Chain struct {
	Graph   *graph.Client
	Steps   *steps.Steps
	Table   *chain.Table
	Log     *slog.Logger
	Tenants *onboarding.Tenants
	stack   chain.Stack
}

// NewChain wires the steps to gc and state and declares the chain.
func NewChain(gc *graph.Client, state steps.State, cfg ChainConfig) (*Chain, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.HandlerTimeout <= 0 {
		cfg.HandlerTimeout = 4 * time.Minute
	}
	st := steps.New(gc, state, cfg.Steps)
	table, err := onboarding.Table(st, log)
	if err != nil {
		return nil, err
	}
	policy := cfg.Policy.WithDefaults()
	stack := chain.Stack{
		Policy: policy, ReplicationWindow: st.Options().ReplicationWindow, HandlerTimeout: cfg.HandlerTimeout,
		Recorder: onboarding.NewRecorder(policy.MaxAttempts, nil), Alert: onboarding.StepFailed, Log: log,
	}
	stack.TenantsTouched, stack.PerTenant = onboarding.TenantsTouched, cfg.PerTenant
	stack.WriteWait, stack.Paced = gc.WriteWait, pacedWrite
	if stack.PerTenant <= 0 {
		stack.PerTenant = DefaultPerTenant
	}
	if cfg.Tenants != nil {
		stack.AllowTenant = cfg.Tenants.Allows
	}
	return &Chain{Graph: gc, Steps: st, Table: table, Log: log, Tenants: cfg.Tenants, stack: stack}, nil
}

// pacedWrite says whether a step failed only because the Graph client held
// a write back for its tenant's budget, and for how long.
func pacedWrite(err error) (time.Duration, bool) {
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Code == graph.PacedCode {
		return fe.RetryAfter, true
	}
	return 0, false
}

// Router returns a router for the chain that settles through settler and
// keeps progress, and which messages it handled, in st.
func (c *Chain) Router(settler bus.Settler, st *store.Store) *chain.Router {
	rec := c.stack.Recorder.(*onboarding.Recorder)
	stack := c.stack
	stack.Handled = st.WasHandled
	return &chain.Router{Table: c.Table, Settler: settler, Middleware: stack.Middleware(), Progress: st,
		Unreadable: rec.Unreadable, Log: c.Log}
}

// Stack is the router's middleware configuration, without de-duplication
// (Router adds it with the store).
func (c *Chain) Stack() chain.Stack { return c.stack }

// Policy is the router's retry policy, defaults filled in.
func (c *Chain) Policy() chain.Policy { return c.stack.Policy }

// Intake posts onboarding requests to queue, recording them in progress.
func (c *Chain) Intake(queue bus.Publisher, progress store.Progress) onboarding.Intake {
	return onboarding.Intake{Table: c.Table, Queue: queue, Progress: progress, Allowed: c.Tenants}
}

// Harvester returns a provisioning-log harvester keeping its checkpoints in
// st, writing records to sinks and publishing provisioning.failed alerts to
// alerts (the local queue, or the cloud's).
func (c *Chain) Harvester(st *store.Store, alerts bus.Publisher, sinks []harvest.Sink, opts harvest.Options) *harvest.Harvester {
	if c.Tenants != nil {
		opts.AllowTenant = c.Tenants.Allows
	}
	opts.Alerts = func(ctx context.Context, evs []events.Event) error {
		out, err := c.Table.Outgoing(evs...)
		if err != nil {
			return err
		}
		return alerts.Publish(ctx, out...)
	}
	if opts.Log == nil {
		opts.Log = c.Log
	}
	return harvest.New(c.Graph, st, sinks, opts)
}

// Drift returns the drift timer's handler: it reads the pairs' records in
// st and publishes drift.detected to alerts (the local queue, or the
// cloud's).
func (c *Chain) Drift(st *store.Store, alerts bus.Publisher) *drift.Detector {
	return &drift.Detector{Dirs: c.Graph, Store: st, Log: c.Log, AllowTenant: c.allows(),
		Alerts: func(ctx context.Context, evs []events.Event) error {
			out, err := c.Table.Outgoing(evs...)
			if err != nil {
				return err
			}
			return alerts.Publish(ctx, out...)
		}}
}

func (c *Chain) allows() func(string) bool {
	if c.Tenants == nil {
		return nil
	}
	return c.Tenants.Allows
}

// Harvester returns the local host's harvester: records go to the local
// records table (for `ctsync logs`) and to the extra sinks.
func (l *Local) Harvester(sinks []harvest.Sink, opts harvest.Options) *harvest.Harvester {
	return l.Chain.Harvester(l.Store, l.Bus, append([]harvest.Sink{harvest.StoreSink{Store: l.Records}}, sinks...), opts)
}

// Config is everything the local host needs.
type Config struct {
	StateDir string
	Graph    graph.Config
	Chain    ChainConfig
	Workers  int
	// Lock is the message lock, renewed while a handler runs (default 15 s).
	Lock time.Duration
	Poll time.Duration
	Log  *slog.Logger
}

// Local is the local host: the embedded state, the chain, a router that
// settles on the embedded queue, and the worker pool.
type Local struct {
	*State
	*Chain
	Router *chain.Router
	Host   *local.Host
	Intake onboarding.Intake
}

// Open wires the local host.
func Open(cfg Config) (*Local, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gc, err := graph.New(cfg.Graph)
	if err != nil {
		return nil, err
	}
	st, err := OpenState(cfg.StateDir, localdb.Options{})
	if err != nil {
		return nil, err
	}
	cfg.Chain.Log = log
	c, err := NewChain(gc, st.Store, cfg.Chain)
	if err != nil {
		st.Close()
		return nil, err
	}
	router := c.Router(st.Bus, st.Store)
	router.Atomic = st.atomic
	workers := cfg.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	host := &local.Host{Router: router, Bus: st.Bus, Workers: workers, Lock: cfg.Lock, Poll: cfg.Poll, Log: log}
	return &Local{State: st, Chain: c, Router: router, Host: host, Intake: c.Intake(st.Bus, st.Store)}, nil
}

// Close releases the state directory.
func (l *Local) Close() error { return l.State.Close() }
