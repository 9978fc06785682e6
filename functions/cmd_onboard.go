package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
)

func runOnboard(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("onboard")
	var req onboarding.Request
	var users, groups stringList
	fs.StringVar(&req.SourceTenantID, "source-tenant", "", "tenant id whose users are synchronized")
	fs.StringVar(&req.TargetTenantID, "target-tenant", "", "tenant id that receives them")
	fs.StringVar(&req.Name, "name", "", "name of the configuration (app display name)")
	fs.Var(&users, "user", "object id of a source user to assign (repeatable); the first is provisioned on demand")
	fs.Var(&groups, "group", "object id of a source group to assign (repeatable)")
	fs.StringVar(&req.RequestedBy, "requested-by", "", "ticket or requester, kept for audit")
	wait := fs.Bool("wait", false, "follow the onboarding until it completes or fails (the local queue runs here; a cloud deployment runs its own)")
	timeout := fs.Duration("timeout", 30*time.Minute, "with --wait, stop waiting after this long (the onboarding goes on under ctsync serve)")
	out := outputFlag(fs)
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if err := checkTimeout(fs, *wait, *timeout); err != nil {
		return err
	}
	req.Users, req.Groups = users, groups
	var missing []string
	for flagName, v := range map[string]string{"--source-tenant": req.SourceTenantID, "--target-tenant": req.TargetTenantID, "--name": req.Name} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, flagName)
		}
	}
	if len(users) == 0 {
		missing = append(missing, "--user")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", errUsage, strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	intake, follow, err := env.openIntakeFor(ctx, *wait)
	if err != nil {
		return err
	}
	defer intake.Close()
	id, err := intake.Submit(ctx, req)
	var refused *onboarding.TenantNotAllowed
	if errors.As(err, &refused) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if !*wait {
		return sayQueued(env, intake, id, *out)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	progressTo := env.stdout
	if *out == outputJSON {
		progressTo = env.stderr // stdout carries only the JSON
	}
	if !intake.Cloud {
		if err := sayWhatElseRuns(ctx, progressTo, follow.Store, id); err != nil {
			return err
		}
	}
	err = waitForOnboarding(ctx, progressTo, follow, id)
	if *out == outputJSON {
		if o, _, gerr := follow.Store.GetOnboarding(context.WithoutCancel(ctx), id); gerr == nil {
			view := api.OnboardingView(o)
			if werr := writeJSON(env.stdout, onboardJSON{OnboardingID: id, Onboarding: &view}); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}

// sayWhatElseRuns tells the user when --wait will also carry out
// onboardings queued before this one: the local host runs the whole queue.
func sayWhatElseRuns(ctx context.Context, w io.Writer, st *store.Store, id string) error {
	list, err := st.ListOnboardings(ctx, 1000)
	if err != nil {
		return err
	}
	var others []string
	for _, o := range list {
		if o.ID != id && !o.State.Finished() {
			others = append(others, fmt.Sprintf("%s (%s, %s)", o.ID, o.Name, o.State))
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(w, "also carrying out %d other queued onboarding(s) while waiting — the local queue runs as a whole:\n  %s\n",
			len(others), strings.Join(others, "\n  "))
	}
	return nil
}

// sayQueued tells where a queued onboarding went: without --wait a
// running `ctsync serve` (or the deployment) carries it out, and posting
// needs no Graph settings, since the chain table is declared without them.
func sayQueued(env *environment, intake *hostIntake, id string, out outputFormat) error {
	if out == outputJSON {
		return writeJSON(env.stdout, onboardJSON{OnboardingID: id, Queued: true})
	}
	if intake.Cloud {
		fmt.Fprintf(env.stdout, "queued onboarding %s on %s\n  the deployment carries it out; `ctsync status %s` follows it\n", id, intake.Where, id)
		return nil
	}
	fmt.Fprintf(env.stdout, "queued onboarding %s\n  run `ctsync serve` to carry it out, and `ctsync status %s` to follow it\n", id, id)
	return nil
}

// waitForOnboarding follows the chain, printing each step's progress as
// the store records it, until the onboarding completed or failed.
func waitForOnboarding(ctx context.Context, w io.Writer, f follower, id string) error {
	o, _, err := f.Store.GetOnboarding(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "onboarding %s %q\n  source %s → target %s, %d user(s), %d group(s)\n",
		id, o.Name, o.SourceTenantID, o.TargetTenantID, len(o.Users), len(o.Groups))
	final, took, err := followSteps(ctx, w, f, id, "onboarding", onboarding.Steps())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "✓ onboarding completed in %s\n  configuration app %s, job %s: %s\n", took, final.ServicePrincipalID, final.JobID, final.JobStatus)
	return nil
}

// followSteps follows one onboarding or offboarding (what), printing each
// of its chain's steps as the store records it, until it finished. A
// failure is said with its remedy and returned as an error.
func followSteps(ctx context.Context, w io.Writer, f follower, id, what string, chainSteps []onboarding.Step) (store.Onboarding, time.Duration, error) {
	p := newProgress(w, chainSteps)
	start := time.Now()
	var final store.Onboarding
	err := f.Run(ctx, func(ctx context.Context) (bool, error) {
		o, steps, err := f.Store.GetOnboarding(ctx, id)
		if err != nil {
			return false, err
		}
		final = o
		p.show(steps)
		return o.State.Finished(), nil
	})
	took := time.Since(start).Round(10 * time.Millisecond)
	if stoppedWaiting(err) {
		return final, took, fmt.Errorf("stopped waiting while the %s was %s at step %s (%s); it continues with %s; follow it with `ctsync status %s`",
			what, final.State, final.Step, final.Detail, f.Where, id)
	}
	if err != nil {
		return final, took, err
	}
	if final.State == store.StateFailed {
		fmt.Fprintf(w, "✗ %s failed at step %s after %s\n  reason: %s\n", what, final.Step, took, final.Detail)
		if final.Remedy != "" {
			fmt.Fprintf(w, "  to fix: %s\n", final.Remedy)
		}
		fmt.Fprintf(w, "  the message is in the dead-letter queue: after fixing, `ctsync dlq replay --all` resumes it\n")
		return final, took, fmt.Errorf("%s %s failed at step %s", what, id, final.Step)
	}
	return final, took, nil
}

// progress prints one line per change of a step's recorded state, numbered
// in chain order.
type progress struct {
	w     io.Writer
	index map[string]int
	title map[string]string
	total int
	seen  map[string]store.Step
}

func newProgress(w io.Writer, chainSteps []onboarding.Step) *progress {
	p := &progress{w: w, index: map[string]int{}, title: map[string]string{}, seen: map[string]store.Step{}}
	for _, s := range chainSteps {
		p.total++
		p.index[s.Name], p.title[s.Name] = p.total, s.Title
	}
	return p
}

func (p *progress) show(steps []store.Step) {
	slices.SortFunc(steps, func(a, b store.Step) int { return p.index[a.Name] - p.index[b.Name] })
	for _, s := range steps {
		n, ok := p.index[s.Name]
		last, shown := p.seen[s.Name]
		if !ok || (shown && last.State == s.State && last.Runs == s.Runs) {
			continue
		}
		p.seen[s.Name] = s
		if shown && last.State == s.State && s.State == store.StepWaiting {
			continue // one line per wait, not one per poll
		}
		line := fmt.Sprintf("  %2d/%d %-52s %-8s", n, p.total, p.title[s.Name], s.State)
		switch s.State {
		case store.StepDone:
			line += fmt.Sprintf(" %6.2fs  %s", s.Took.Seconds(), s.Detail)
		default:
			line += " " + oneLine(s.Detail)
		}
		fmt.Fprintln(p.w, strings.TrimRight(line, " "))
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 220 {
		s = s[:217] + "…"
	}
	return s
}

// openLocalHost opens the local host for a command that shows progress:
// only errors are logged beside it unless CTSYNC_LOG_LEVEL asks for more.
func openLocalHost(env *environment) (*app.Local, error) {
	cfg, err := env.appConfig(env.logger(slog.LevelError))
	if err != nil {
		return nil, err
	}
	return app.Open(cfg)
}

// graphClient reaches Graph with the environment's settings, for commands
// that only read or make one call.
func graphClient(env *environment) (*graph.Client, error) {
	cfg, err := env.appConfig(env.logger(slog.LevelError))
	if err != nil {
		return nil, err
	}
	return graph.New(cfg.Graph)
}
