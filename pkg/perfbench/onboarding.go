package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
)

// replicationDelay is how long the emulator keeps a new app and a new job
// unreadable, for the onboarding rows.
const replicationDelay = 2 * time.Second

// onboardingRun is one onboarding on the local host with default settings,
// against the emulator with every Graph call delayed by latency.
type onboardingRun struct {
	latency   time.Duration
	wall      time.Duration
	succeeded int // Graph requests answered 2xx, replication polls left out (see needed)
	reads     int // GETs
	stepReads int // GETs in each step's last run: the reads outside replication polls
	writes    int
	// duplicateReads lists, per step, objects read more than once outside
	// replication polls.
	duplicateReads []string
	// rerunReads and rerunWrites are a second onboarding of the same pair.
	rerunReads, rerunWrites int
	steps                   int
}

// ideal is what the onboarding cannot beat: its successful requests one
// after another, and the replication delays of the app and the job.
func (r onboardingRun) ideal() time.Duration {
	return time.Duration(r.succeeded)*r.latency + 2*replicationDelay
}

func measureOnboarding(latency time.Duration) (onboardingRun, error) {
	sim, err := graphsim.Start(graphsim.Options{AppReplicationDelay: replicationDelay, JobReplicationDelay: replicationDelay,
		CycleInterval: time.Hour, InitialCycleDelay: time.Hour})
	if err != nil {
		return onboardingRun{}, err
	}
	defer sim.Close()
	sim.AddSampleTenants()
	sim.Inject(graphsim.Fault{Latency: latency})
	dir, err := os.MkdirTemp("", "perfbench-onboarding")
	if err != nil {
		return onboardingRun{}, err
	}
	defer os.RemoveAll(dir)
	a, err := app.Open(app.Config{StateDir: filepath.Join(dir, "state"),
		Graph: graph.Config{AuthorityHost: sim.URL, GraphEndpoint: sim.URL, ClientID: sim.ClientID(),
			ClientSecret: entra.Redacted(sim.ClientSecret()), RootCAs: sim.CA.Pool()},
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return onboardingRun{}, err
	}
	defer a.Close()
	req := onboarding.Request{SourceTenantID: graphsim.SampleSourceTenant, TargetTenantID: graphsim.SampleTargetTenant,
		Name: "Contoso to Fabrikam", Users: []string{graphsim.SampleUsers[0].ID, graphsim.SampleUsers[1].ID}, Groups: []string{graphsim.SampleGroup}}

	run := onboardingRun{latency: latency}
	first := len(sim.Requests())
	start := time.Now()
	o, steps, err := onboard(a, req)
	if err != nil {
		return run, err
	}
	run.wall = o.UpdatedAt.Sub(start)
	run.steps = len(steps)
	reqs := sim.Requests()[first:]
	var during []graphsim.Request
	for _, r := range reqs {
		if r.Version != "" && !r.Time.After(o.UpdatedAt) {
			during = append(during, r)
		}
	}
	run.succeeded, run.stepReads = needed(during, steps)
	for _, r := range during {
		if r.Method == "GET" {
			run.reads++
		} else {
			run.writes++
		}
	}
	run.duplicateReads = duplicateReads(during, steps, start)

	// The same pair again: everything is in place.
	before := len(sim.Requests())
	o2, _, err := onboard(a, req)
	if err != nil {
		return run, err
	}
	for _, r := range sim.Requests()[before:] {
		if r.Version == "" || r.Time.After(o2.UpdatedAt) {
			continue
		}
		if os.Getenv("BENCH_VERBOSE") != "" {
			fmt.Fprintln(os.Stderr, "rerun:", r.Method, r.Path, r.Status)
		}
		if r.Method == "GET" {
			run.rerunReads++
		} else {
			run.rerunWrites++
		}
	}
	return run, nil
}

func onboard(a *app.Local, req onboarding.Request) (store.Onboarding, []store.Step, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := a.Intake.Submit(ctx, req)
	if err != nil {
		return store.Onboarding{}, nil, err
	}
	var o store.Onboarding
	var steps []store.Step
	err = a.Host.RunUntil(ctx, func(ctx context.Context) (bool, error) {
		var err error
		o, steps, err = a.Store.GetOnboarding(ctx, id)
		return o.State.Finished(), err
	})
	if err == nil && o.State != store.StateCompleted {
		err = fmt.Errorf("onboarding %s at %s: %s", o.State, o.Step, o.Detail)
	}
	return o, steps, err
}

// needed counts the requests an onboarding cannot do without: every write
// answered 2xx, and the reads answered 2xx in each step's last run — the
// run that found what it needed. Reads in a step's earlier runs were polls
// while Entra replicated, which the replication delays already account for.
func needed(reqs []graphsim.Request, steps []store.Step) (n, reads int) {
	for _, r := range reqs {
		if r.Status < 200 || r.Status > 299 {
			continue
		}
		if r.Method != "GET" {
			n++
			continue
		}
		for _, st := range steps {
			if !r.Time.Before(st.UpdatedAt.Add(-st.Took)) && !r.Time.After(st.UpdatedAt) {
				n++
				reads++
				break
			}
		}
	}
	return n, reads
}

// duplicateReads attributes each GET to the step running at the time (the
// steps of one onboarding run one after another) and names the objects a
// step read more than once, leaving out the steps that waited for
// replication (their repeated reads are the polls).
func duplicateReads(reqs []graphsim.Request, steps []store.Step, start time.Time) []string {
	sort.Slice(steps, func(i, j int) bool { return steps[i].UpdatedAt.Before(steps[j].UpdatedAt) })
	var out []string
	from := start
	for _, st := range steps {
		counts := map[string]int{}
		for _, r := range reqs {
			if r.Method == "GET" && r.Time.After(from) && !r.Time.After(st.UpdatedAt) {
				counts[r.Path]++
			}
		}
		waited := st.Runs > 1
		for path, n := range counts {
			if n > 1 && !waited {
				out = append(out, fmt.Sprintf("%s: %s ×%d", st.Name, strings.TrimPrefix(path, "/"), n))
			}
		}
		from = st.UpdatedAt
	}
	sort.Strings(out)
	return out
}
