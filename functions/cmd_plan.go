package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/desired"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/plan"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

// runPlan reads both tenants of every pair in the file and prints what
// apply would change; it writes nothing. Exit 0: nothing to change, 2:
// changes pending, 1: error.
func runPlan(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("plan")
	file := fs.String("f", "", "the desired-state file (YAML or JSON; schema: pkg/desired/schema.json)")
	out := outputFlag(fs)
	var undo undoFlags
	undo.register(fs)
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	_, p, err := makePlan(ctx, env, *file, undo)
	if err != nil {
		return err
	}
	if *out == outputJSON {
		if err := writeJSON(env.stdout, planJSON{Plan: p, Pending: p.Pending(), Removes: p.Removes()}); err != nil {
			return err
		}
	} else {
		plan.Text(env.stdout, p)
	}
	if p.Pending() {
		return errChangesPending
	}
	return nil
}

type planJSON struct {
	plan.Plan
	Pending bool `json:"pending"`
	Removes bool `json:"removes"`
}

// makePlan loads the file, checks its tenants against the allow-list and
// plans it with the Graph settings of the environment. The local state, when
// there is one, tells whether saved secrets changed.
func makePlan(ctx context.Context, env *environment, path string, undo undoFlags) (*desired.File, plan.Plan, error) {
	if strings.TrimSpace(path) == "" {
		return nil, plan.Plan{}, fmt.Errorf("%w: -f FILE is required", errUsage)
	}
	f, err := desired.Load(path)
	if err != nil {
		return nil, plan.Plan{}, err
	}
	allowed, err := env.allowedTenants()
	if err != nil {
		return nil, plan.Plan{}, err
	}
	for i, p := range f.All() {
		if err := allowed.Check(p.SourceTenant, p.TargetTenant); err != nil {
			return nil, plan.Plan{}, fmt.Errorf("pairs[%d]: %w", i, err)
		}
	}
	gc, err := graphClient(env)
	if err != nil {
		return nil, plan.Plan{}, err
	}
	planner := plan.Planner{Dirs: gc, ResumeJobs: undo.resumeJobs, Recreate: undo.recreate}
	if st, _, closeStore, err := env.openProgress(ctx); err == nil {
		defer closeStore()
		planner.Secrets = func(ctx context.Context, in events.Onboarding) (bool, bool, error) {
			return steps.SavedSecretsMatch(ctx, st, in)
		}
		planner.Pairs = st.ListPairs
		planner.CreatedApp = func(ctx context.Context, source, target string) (string, error) {
			return steps.CreatedApp(ctx, st, source, target)
		}
	} else if !errors.Is(err, localdb.ErrNoState) {
		return nil, plan.Plan{}, err
	}
	p, err := planner.Make(ctx, f)
	return f, p, err
}

// runApply prints the plan, asks when it removes anything, then posts one
// onboarding.requested per pair that needs a change, carrying its whole
// desired configuration; the chain brings each pair to it. With --wait it
// follows them until every one converged: it runs the local queue itself,
// or, when CTSYNC_STORE names a cloud deployment's store, posts to the
// deployment's queues and follows the shared store.
func runApply(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("apply")
	file := fs.String("f", "", "the desired-state file (YAML or JSON; schema: pkg/desired/schema.json)")
	yes := fs.Bool("yes", false, "proceed without asking, even when the plan removes users or assignments")
	wait := fs.Bool("wait", false, "follow every pair until it converged or failed (the local queue runs here; a cloud deployment runs its own)")
	timeout := fs.Duration("timeout", 30*time.Minute, "with --wait, stop waiting after this long (the onboardings go on under ctsync serve)")
	var undo undoFlags
	undo.register(fs)
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if err := checkTimeout(fs, *wait, *timeout); err != nil {
		return err
	}
	f, p, err := makePlan(ctx, env, *file, undo)
	if err != nil {
		return err
	}
	plan.Text(env.stdout, p)
	if !p.Pending() {
		fmt.Fprintln(env.stdout, "\nnothing to apply: every pair is as the file says")
		return nil
	}
	if p.Removes() && !*yes {
		if err := confirmWith(env.stdout, os.Stdin, "\nThe plan above removes users, assignments or whole pairs. Type yes to apply it: "); err != nil {
			return err
		}
	}
	var ids []string
	var names []string
	submit := func(intake onboarding.Intake) error {
		for i, pair := range f.All() {
			if !p.Pairs[i].Pending() {
				continue
			}
			what := "onboarding"
			var id string
			var err error
			if pair.Absent() {
				what = "offboarding"
				id, err = intake.SubmitOffboarding(ctx, onboarding.OffboardRequest{SourceTenantID: pair.SourceTenant, TargetTenantID: pair.TargetTenant,
					Name: pair.Name, RemovePartners: pair.RemovePartners, RequestedBy: "ctsync apply -f " + *file})
			} else {
				cfg := pair.Configuration()
				id, err = intake.Submit(ctx, onboarding.Request{SourceTenantID: pair.SourceTenant, TargetTenantID: pair.TargetTenant, Name: pair.Name,
					Users: pair.Users, Groups: pair.Groups, RequestedBy: "ctsync apply -f " + *file, Configuration: &cfg,
					ResumeJobs: undo.resumeJobs, Recreate: undo.recreate})
			}
			if err != nil {
				return fmt.Errorf("pairs[%d] (%s): %w", i, pair.Name, err)
			}
			ids, names = append(ids, id), append(names, pair.Name)
			fmt.Fprintf(env.stdout, "queued %s %s for %q\n", what, id, pair.Name)
		}
		return nil
	}
	intake, follow, err := env.openIntakeFor(ctx, *wait)
	if err != nil {
		return err
	}
	defer intake.Close()
	if err := submit(intake.Intake); err != nil {
		return err
	}
	switch {
	case *wait:
	case intake.Cloud:
		fmt.Fprintf(env.stdout, "posted to %s: the deployment carries them out; `ctsync status` follows them\n", intake.Where)
		return nil
	default:
		fmt.Fprintf(env.stdout, "run `ctsync serve` to carry them out, or apply with --wait; `ctsync status` follows them\n")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return waitForAll(ctx, env.stdout, follow, ids, names)
}

// undoFlags are plan's and apply's --resume-jobs and --recreate: what a
// person may have done on purpose is reported and left alone without them.
type undoFlags struct{ resumeJobs, recreate bool }

func (u *undoFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&u.resumeJobs, "resume-jobs", false, "resume jobs someone paused (without it they are reported and left paused)")
	fs.BoolVar(&u.recreate, "recreate", false, "create again a configuration app someone deleted (without it the deletion is reported)")
}

// confirmWith asks a person at a terminal to type yes; without a terminal
// it refuses, since nobody could have read what is shown.
func confirmWith(w io.Writer, in *os.File, question string) error {
	if !isTerminal(in) {
		return fmt.Errorf("%w: this removes users and there is no terminal to ask; read what it shows, then run it again with --yes", plan.ErrRemovalsNeedConsent)
	}
	fmt.Fprint(w, question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return errors.New("cancelled: nothing was changed")
	}
	return nil
}

// waitForAll follows the chain until every onboarding finished, printing
// each as it ends; it fails naming every pair that failed and its step.
func waitForAll(ctx context.Context, w io.Writer, f follower, ids, names []string) error {
	done := map[string]bool{}
	var failed []string
	start := time.Now()
	var lastCheck, lastOverall time.Time
	err := f.Run(ctx, func(ctx context.Context) (bool, error) {
		// Many pairs are many reads: look at most once a second.
		if time.Since(lastCheck) < time.Second && len(ids) > 20 {
			return false, nil
		}
		lastCheck = time.Now()
		states := map[store.State]int{}
		for i, id := range ids {
			if done[id] {
				continue
			}
			o, _, err := f.Store.GetOnboarding(ctx, id)
			if err != nil {
				return false, err
			}
			if !o.State.Finished() {
				states[o.State]++
				continue
			}
			done[id] = true
			if o.State == store.StateFailed {
				failed = append(failed, fmt.Sprintf("%q failed at step %s: %s", names[i], o.Step, o.Detail))
				fmt.Fprintf(w, "✗ %q failed at step %s: %s\n", names[i], o.Step, o.Detail)
				if o.Remedy != "" {
					fmt.Fprintf(w, "  to fix: %s\n", o.Remedy)
				}
			} else if o.Kind == store.KindOffboarding {
				fmt.Fprintf(w, "✓ %q offboarded (its synchronized accounts stay in the target)\n", names[i])
			} else {
				fmt.Fprintf(w, "✓ %q converged (job %s: %s)\n", names[i], o.JobID, o.JobStatus)
			}
		}
		finished := len(done) == len(ids)
		if len(ids) > 1 && (finished || time.Since(lastOverall) >= 5*time.Second) {
			lastOverall = time.Now()
			fmt.Fprintf(w, "  progress: %d/%d done (%d failed), %d running, %d waiting, %d queued — %s\n", len(done), len(ids), len(failed),
				states[store.StateRunning], states[store.StateWaiting], states[store.StateRequested], time.Since(start).Round(time.Second))
		}
		return finished, nil
	})
	if stoppedWaiting(err) {
		return fmt.Errorf("stopped waiting with %d of %d pair(s) unfinished; they continue with %s", len(ids)-len(done), len(ids), f.Where)
	}
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d pair(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}
