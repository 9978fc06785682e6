package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/offboard"
)

// runServe runs the local host until interrupted: queue workers, and the
// harvester on its timer. On Ctrl-C or SIGTERM no new message or harvest is
// started; running steps and the current harvest page finish, then it exits.
func runServe(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("serve")
	interval := fs.Duration("harvest-interval", 15*time.Minute, "time between provisioning-log harvests (0 turns the harvester off)")
	out := fs.String("harvest-out", "", "JSON Lines file for collected records (default <state dir>/provisioning.jsonl)")
	driftInterval := fs.Duration("drift-interval", time.Hour, "time between drift checks of every pair apply manages (0 turns them off)")
	listen := fs.String("listen", "", "serve the HTTP API (POST /onboardings, GET /onboardings/{id}, POST /offboardings, GET /offboardings/{id}) on this address, e.g. 127.0.0.1:8080; "+
		"requests need Authorization: Bearer CTSYNC_INTAKE_TOKEN")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	var token string
	if *listen != "" {
		var err error
		if token, err = env.intakeToken(); err != nil {
			return err
		}
	}
	if err := notNegative("harvest-interval", *interval); err != nil {
		return err
	}
	if v := env.getenv("CTSYNC_HARVEST_INTERVAL"); v != "" && !flagSet(fs, "harvest-interval") {
		if err := env.duration("CTSYNC_HARVEST_INTERVAL", interval); err != nil {
			return err
		}
	}
	if err := notNegative("drift-interval", *driftInterval); err != nil {
		return err
	}
	if v := env.getenv("CTSYNC_DRIFT_INTERVAL"); v != "" && !flagSet(fs, "drift-interval") {
		if err := env.duration("CTSYNC_DRIFT_INTERVAL", driftInterval); err != nil {
			return err
		}
	}
	a, hopts, err := env.openHarvestingHost(slog.LevelInfo)
	if err != nil {
		return err
	}
	defer a.Close()
	log := a.Log
	stateDir := env.stateDir()
	log.Info("ctsync serving", "state_dir", stateDir, "graph", a.Graph.Config().Describe(), "queues", a.Table.Queues(), "harvest_interval", interval.String(),
		"drift_interval", driftInterval.String())

	var wg sync.WaitGroup
	if *listen != "" {
		srv := &api.Server{Intake: a.Intake, Store: a.Store, Log: log, Offboarding: &offboard.Previewer{Dirs: a.Graph, Store: a.Store}}
		handler, err := api.Bearer(token, srv.Handler())
		if err != nil {
			return fmt.Errorf("CTSYNC_INTAKE_TOKEN: %w", err)
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", *listen, err)
		}
		httpSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		log.Info("API listening", "addr", ln.Addr().String(), "routes", "POST /onboardings, GET /onboardings/{id}, POST /offboardings, GET /offboardings/{id}")
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("API stopped", "error", err)
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = httpSrv.Shutdown(shutdown)
		}()
	}
	if *interval > 0 {
		if *out == "" {
			*out = filepath.Join(stateDir, "provisioning.jsonl")
		}
		jl, err := harvest.OpenJSONLines(*out)
		if err != nil {
			return err
		}
		defer jl.Close()
		hopts.Progress = progressLogger(log, 30*time.Second)
		h := a.Harvester([]harvest.Sink{jl}, hopts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			harvestEvery(ctx, log, h, *interval)
		}()
	}
	if *driftInterval > 0 {
		d := a.Drift(a.Store, a.Bus)
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, *driftInterval, func(ctx context.Context) {
				sum, err := d.Run(ctx)
				switch {
				case err != nil && ctx.Err() == nil:
					log.Error("drift check failed", "error", err)
				case err == nil:
					log.Info("drift check done", "pairs", sum.Pairs, "drifted", sum.Drifted, "settings", sum.Settings, "new", sum.New, "took", sum.Took.Round(time.Millisecond).String())
				}
				for _, e := range sum.Errors {
					log.Error("drift check of a pair failed", "error", e.Error())
				}
			})
		}()
	}
	err = a.Host.Run(ctx)
	wg.Wait()
	log.Info("ctsync stopped")
	return err
}

// every runs fn at start and then on every tick until ctx ends; a tick that
// comes while fn still runs is skipped.
func every(ctx context.Context, interval time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// harvestEvery runs the harvester at start and then on every tick; a tick
// that comes while a harvest still runs is skipped.
func harvestEvery(ctx context.Context, log *slog.Logger, h *harvest.Harvester, interval time.Duration) {
	every(ctx, interval, func(ctx context.Context) {
		sum, err := h.Run(ctx)
		switch {
		case errors.Is(err, harvest.ErrBusy):
			log.Info("harvest skipped", "reason", err.Error())
		case err != nil && ctx.Err() == nil:
			log.Error("harvest failed", "error", err)
		default:
			log.Info("harvest done", "configurations", sum.Configurations, "pages", sum.Pages, "records", sum.Records, "new", sum.Delivered,
				"failed_provisioning", sum.Failures, "gaps", len(sum.Gaps), "errors", len(sum.Errors), "took_ms", sum.Took.Milliseconds())
			for _, e := range sum.Errors {
				log.Error("harvest of a configuration failed", "error", e.Error())
			}
		}
	})
}

// progressLogger logs a long harvest's progress at most every interval per
// configuration.
func progressLogger(log *slog.Logger, interval time.Duration) func(harvest.Progress) {
	return everyInterval(interval, func(p harvest.Progress) {
		log.Info("harvest progress", "configuration", p.Config.ServicePrincipalID, "name", p.Config.Name, "pages", p.Pages,
			"records", p.Records, "new", p.Delivered, "records_per_second", int(p.Rate()))
	})
}
