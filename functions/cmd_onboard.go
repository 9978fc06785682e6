package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/store"
)

func runOnboard(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("onboard", flag.ContinueOnError)
	var req app.Request
	var users, groups stringList
	fs.StringVar(&req.SourceTenantID, "source-tenant", "", "tenant id whose users are synchronized")
	fs.StringVar(&req.TargetTenantID, "target-tenant", "", "tenant id that receives them")
	fs.StringVar(&req.Name, "name", "", "name of the configuration (app display name)")
	fs.Var(&users, "user", "object id of a source user to assign (repeatable); the first is provisioned on demand")
	fs.Var(&groups, "group", "object id of a source group to assign (repeatable)")
	fs.StringVar(&req.RequestedBy, "requested-by", "", "ticket or requester, kept for audit")
	wait := fs.Bool("wait", false, "run the chain here until the onboarding completes or fails")
	timeout := fs.Duration("timeout", 30*time.Minute, "with --wait, give up after this long")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
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
	if !*wait {
		return queueOnboarding(ctx, env, req)
	}
	cfg, err := env.appConfig(env.logger(slog.LevelWarn))
	if err != nil {
		return err
	}
	a, err := app.Open(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	id, err := app.Submit(ctx, a.Bus, a.Store, req)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return waitForOnboarding(ctx, env.stdout, a, id)
}

// queueOnboarding only posts the event; a running `ctsync serve` (or the next
// `--wait`) carries it out.
func queueOnboarding(ctx context.Context, env *environment, req app.Request) error {
	db, b, s, err := app.OpenState(env.stateDir())
	if err != nil {
		return err
	}
	defer db.Close()
	id, err := app.Submit(ctx, b, s, req)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	fmt.Fprintf(env.stdout, "queued onboarding %s\n  run `ctsync serve` to carry it out, and `ctsync status %s` to follow it\n", id, id)
	return nil
}

// waitForOnboarding runs the local host, printing each step's progress,
// until the onboarding completed or failed.
func waitForOnboarding(ctx context.Context, w io.Writer, a *app.App, id string) error {
	o, _, err := a.Store.GetOnboarding(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "onboarding %s %q\n  source %s → target %s, %d user(s), %d group(s)\n",
		id, o.Name, o.SourceTenantID, o.TargetTenantID, len(o.Users), len(o.Groups))
	p := newProgress(w, a.Table)
	a.Runner.Observe(func(r chain.Report) {
		if r.OnboardingID == id {
			p.print(r)
		}
	})
	start := time.Now()
	var final store.Onboarding
	err = a.Host.RunUntil(ctx, func(ctx context.Context) (bool, error) {
		o, _, err := a.Store.GetOnboarding(ctx, id)
		final = o
		return o.State == store.StateCompleted || o.State == store.StateFailed, err
	})
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("stopped waiting while the onboarding was %s at step %s (%s); it continues with `ctsync serve`; follow it with `ctsync status %s`",
			final.State, final.Step, final.Detail, id)
	}
	if err != nil {
		return err
	}
	took := time.Since(start).Round(10 * time.Millisecond)
	if final.State == store.StateFailed {
		fmt.Fprintf(w, "✗ onboarding failed at step %s after %s\n  reason: %s\n", final.Step, took, final.Detail)
		if final.Remedy != "" {
			fmt.Fprintf(w, "  to fix: %s\n", final.Remedy)
		}
		fmt.Fprintf(w, "  the message is in the dead-letter queue: after fixing, `ctsync dlq replay --all` resumes it\n")
		return fmt.Errorf("onboarding %s failed at step %s", id, final.Step)
	}
	fmt.Fprintf(w, "✓ onboarding completed in %s\n  configuration app %s, job %s: %s\n", took, final.ServicePrincipalID, final.JobID, final.JobStatus)
	return nil
}

// progress prints one line per step outcome, numbered in chain order.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	index   map[string]int
	total   int
	waiting map[string]bool
}

func newProgress(w io.Writer, t *chain.Table) *progress {
	p := &progress{w: w, index: map[string]int{}, waiting: map[string]bool{}}
	for _, r := range t.Routes() {
		if r.Onboarding {
			p.total++
			p.index[r.Step] = p.total
		}
	}
	return p
}

func (p *progress) print(r chain.Report) {
	n, ok := p.index[r.Step]
	if !ok || r.Outcome == "started" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Outcome == "waiting" {
		// One line per wait, not one per poll.
		if p.waiting[r.Step] {
			return
		}
		p.waiting[r.Step] = true
	}
	line := fmt.Sprintf("  %2d/%d %-52s %-8s", n, p.total, r.Title, r.Outcome)
	switch r.Outcome {
	case "done":
		line += fmt.Sprintf(" %6.2fs  %s", r.Took.Seconds(), r.Note)
	case "waiting":
		line += " " + oneLine(r.Err)
	case "retrying":
		line += fmt.Sprintf(" attempt %d: %s; again in %s", r.Attempt, oneLine(r.Err), r.RetryIn.Round(time.Millisecond))
	case "failed":
		line += " " + oneLine(r.Err)
	}
	fmt.Fprintln(p.w, strings.TrimRight(line, " "))
}

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 220 {
		s = s[:217] + "…"
	}
	return s
}
