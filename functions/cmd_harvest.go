package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/store"
)

func runHarvest(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("harvest")
	once := fs.Bool("once", false, "run one harvest and exit")
	out := fs.String("out", "-", "JSON Lines file for the records, or - for stdout")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if !*once {
		return fmt.Errorf("%w: add --once (`ctsync serve` harvests on a timer)", errUsage)
	}
	a, hopts, err := env.openHarvestingHost(slog.LevelWarn)
	if err != nil {
		return err
	}
	defer a.Close()
	sink, closeSink, err := outputSink(*out, env.stdout)
	if err != nil {
		return err
	}
	defer closeSink()
	hopts.Progress = progressPrinter(env.stderr)
	sum, err := a.Harvester([]harvest.Sink{sink}, hopts).Run(ctx)
	if errors.Is(err, harvest.ErrBusy) {
		// Nothing was read; a summary of zeros would say otherwise.
		return fmt.Errorf("%w; it renews its lease while it runs, and a stopped one is taken over when the lease lapses (CTSYNC_HARVEST_LEASE)", err)
	}
	printSummary(env.stderr, sum)
	if err != nil {
		return err
	}
	if len(sum.Errors) > 0 {
		return fmt.Errorf("%d configuration(s) could not be harvested", len(sum.Errors))
	}
	return nil
}

// openHarvestingHost reads the local host's and the harvester's settings
// and opens the host; its logger logs at level unless CTSYNC_LOG_LEVEL says
// otherwise.
func (e *environment) openHarvestingHost(level slog.Level) (*app.Local, harvest.Options, error) {
	log := e.logger(level)
	cfg, err := e.appConfig(log)
	if err != nil {
		return nil, harvest.Options{}, err
	}
	hopts, err := e.harvestOptions(log)
	if err != nil {
		return nil, harvest.Options{}, err
	}
	a, err := app.Open(cfg)
	return a, hopts, err
}

// outputSink opens the JSON Lines destination: a file (exactly once) or a
// stream such as stdout (at least once).
func outputSink(path string, stdout io.Writer) (harvest.Sink, func(), error) {
	if path == "-" || path == "" {
		return harvest.NewStream(stdout, "stdout"), func() {}, nil
	}
	jl, err := harvest.OpenJSONLines(path)
	if err != nil {
		return nil, nil, err
	}
	return jl, func() { jl.Close() }, nil
}

// harvestOptions reads the harvester's settings from the environment:
//
//	CTSYNC_HARVEST_OVERLAP  re-read window before the checkpoint (default 30m)
//	CTSYNC_HARVEST_LEASE    how long a harvest holds its lease unless it renews it (default 30s)
//	CTSYNC_HARVEST_BUDGET   requests per window per tenant, e.g. 4/10s (default)
//	CTSYNC_HARVEST_EXTRA    more configurations: TENANT_ID/SERVICE_PRINCIPAL_ID, comma-separated
func (e *environment) harvestOptions(log *slog.Logger) (harvest.Options, error) {
	opts := harvest.Options{Log: log}
	if err := e.duration("CTSYNC_HARVEST_OVERLAP", &opts.Overlap); err != nil {
		return opts, err
	}
	if err := e.duration("CTSYNC_HARVEST_LEASE", &opts.Lease); err != nil {
		return opts, err
	}
	if v := e.getenv("CTSYNC_HARVEST_BUDGET"); v != "" {
		n, w, ok := strings.Cut(v, "/")
		count, err1 := strconv.Atoi(n)
		window, err2 := time.ParseDuration(w)
		if !ok || err1 != nil || err2 != nil || count < 1 || window <= 0 {
			return opts, fmt.Errorf("CTSYNC_HARVEST_BUDGET=%q must look like 4/10s (requests per window per tenant)", v)
		}
		opts.Budget = harvest.NewBudget(count, window)
	}
	for _, item := range strings.Split(e.getenv("CTSYNC_HARVEST_EXTRA"), ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		tenant, sp, ok := strings.Cut(item, "/")
		if !ok || !events.IsGUID(tenant) || !events.IsGUID(sp) {
			return opts, fmt.Errorf("CTSYNC_HARVEST_EXTRA entry %q must be TENANT_ID/SERVICE_PRINCIPAL_ID (two GUIDs)", item)
		}
		opts.Extra = append(opts.Extra, store.Configuration{SourceTenantID: strings.ToLower(tenant), ServicePrincipalID: strings.ToLower(sp), Name: "extra"})
	}
	return opts, nil
}

// progressPrinter reports a long harvest at most once a second per
// configuration: pages, records, rate.
func progressPrinter(w io.Writer) func(harvest.Progress) {
	return everyInterval(time.Second, func(p harvest.Progress) {
		fmt.Fprintf(w, "harvest %s (%s): %d page(s), %d record(s) read, %d new, %.0f records/s\n",
			p.Config.ServicePrincipalID, p.Config.Name, p.Pages, p.Records, p.Delivered, p.Rate())
	})
}

// everyInterval passes a configuration's progress on at most once per interval.
func everyInterval(interval time.Duration, emit func(harvest.Progress)) func(harvest.Progress) {
	var mu sync.Mutex
	last := map[string]time.Time{}
	return func(p harvest.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last[p.Config.Key()]) < interval {
			return
		}
		last[p.Config.Key()] = time.Now()
		emit(p)
	}
}

func printSummary(w io.Writer, s harvest.Summary) {
	fmt.Fprintf(w, "harvested %d configuration(s): %d page(s), %d record(s) read, %d new (%d failed provisioning) in %s\n",
		s.Configurations, s.Pages, s.Records, s.Delivered, s.Failures, s.Took.Round(time.Millisecond))
	for _, g := range s.Gaps {
		fmt.Fprintf(w, "LOST: logs of %s (%s) from %s to %s expired before they were read (retention %s); run the harvester more often\n",
			g.Config.ServicePrincipalID, g.Config.Name, g.From.Format(time.RFC3339), g.To.Format(time.RFC3339), "30 days")
	}
	for _, err := range s.Errors {
		fmt.Fprintf(w, "error: %v\n", err)
	}
}
