package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
)

func runStatus(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("status")
	out := outputFlag(fs)
	asJSON := fs.Bool("json", false, "shorthand for --output json")
	limit := fs.Int("limit", 20, "how many onboardings to list, newest first")
	rest, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	if *limit < 1 {
		return fmt.Errorf("%w: --limit must be at least 1", errUsage)
	}
	if *asJSON {
		*out = outputJSON
	}
	s, where, done, err := env.openProgress(ctx)
	if errors.Is(err, localdb.ErrNoState) {
		// Nothing was ever queued here; say so without creating the state.
		switch {
		case len(rest) > 0:
			return fmt.Errorf("no onboarding %s in %s", rest[0], where)
		case *out == outputJSON:
			return writeJSON(env.stdout, statusListJSON{Onboardings: []api.Onboarding{}})
		default:
			fmt.Fprintf(env.stdout, "no onboardings in %s\n", where)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer done()
	if len(rest) == 0 {
		all, err := s.ListOnboardings(ctx, 0)
		if err != nil {
			return err
		}
		list := all[:min(len(all), *limit)]
		sum := summarize(all)
		if *out == outputJSON {
			res := statusListJSON{Onboardings: make([]api.Onboarding, 0, len(list)), Summary: &sum}
			for _, o := range list {
				res.Onboardings = append(res.Onboardings, api.OnboardingView(o))
			}
			return writeJSON(env.stdout, res)
		}
		if len(list) == 0 {
			fmt.Fprintf(env.stdout, "no onboardings in %s\n", where)
			return nil
		}
		printStateSummary(env.stdout, sum)
		if len(all) > len(list) {
			fmt.Fprintf(env.stdout, "the newest %d of %d (--limit):\n", len(list), len(all))
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tNAME\tSTATE\tSTEP\tJOB\tUPDATED")
		for _, o := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, kindOf(o), o.Name, o.State, o.Step, dash(o.JobStatus), ago(o.UpdatedAt))
		}
		return tw.Flush()
	}
	o, steps, err := s.GetOnboarding(ctx, rest[0])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no onboarding %s in %s", rest[0], where)
	}
	if err != nil {
		return err
	}
	if *out == outputJSON {
		return writeJSON(env.stdout, api.StatusView(o, steps))
	}
	w := env.stdout
	fmt.Fprintf(w, "%-12s %s %q\nstate        %s (step %s, updated %s)\n", kindOf(o), o.ID, o.Name, o.State, dash(o.Step), ago(o.UpdatedAt))
	fmt.Fprintf(w, "tenants      source %s → target %s\nprincipals   %d user(s), %d group(s)\n", o.SourceTenantID, o.TargetTenantID, len(o.Users), len(o.Groups))
	if o.RequestedBy != "" {
		fmt.Fprintf(w, "requested by %s\n", o.RequestedBy)
	}
	if o.ServicePrincipalID != "" {
		fmt.Fprintf(w, "app          service principal %s (app id %s)\n", o.ServicePrincipalID, o.AppID)
	}
	if o.JobID != "" {
		fmt.Fprintf(w, "job          %s: %s\n", o.JobID, dash(o.JobStatus))
	}
	if o.Drift != "" {
		fmt.Fprintf(w, "drift        %s\n", o.Drift)
	}
	if o.State == store.StateFailed || o.State == store.StateWaiting {
		fmt.Fprintf(w, "detail       %s\n", o.Detail)
	}
	if o.Remedy != "" {
		fmt.Fprintf(w, "to fix       %s\n", o.Remedy)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTEP\tSTATE\tATTEMPTS\tDETAIL")
	for _, st := range steps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", st.Name, st.State, st.Attempts, st.Detail)
	}
	return tw.Flush()
}

// summarize counts onboardings and offboardings by state and keeps the
// failed ones, for the summary status prints first.
func summarize(all []store.Onboarding) statusSummary {
	sum := statusSummary{Total: len(all), ByState: map[string]int{}}
	for _, o := range all {
		sum.ByState[string(o.State)]++
		if o.State == store.StateFailed {
			sum.Failed = append(sum.Failed, api.OnboardingView(o))
		}
	}
	return sum
}

// printStateSummary writes the counts by state, then each failure and its remedy.
func printStateSummary(w io.Writer, sum statusSummary) {
	var parts []string
	for _, st := range []store.State{store.StateCompleted, store.StateRunning, store.StateWaiting, store.StateRequested, store.StateFailed} {
		if n := sum.ByState[string(st)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	fmt.Fprintf(w, "%d in all: %s\n", sum.Total, strings.Join(parts, ", "))
	for _, f := range sum.Failed {
		fmt.Fprintf(w, "  ✗ %s %q (%s → %s) failed at %s: %s\n", f.OnboardingID, f.Name, f.SourceTenantID, f.TargetTenantID, f.Step, f.Detail)
		if f.Remedy != "" {
			fmt.Fprintf(w, "    to fix: %s\n", f.Remedy)
		}
	}
	fmt.Fprintln(w)
}

// kindOf says whether a record is an onboarding or an offboarding.
func kindOf(o store.Onboarding) string {
	if o.Kind == store.KindOffboarding {
		return "offboarding"
	}
	return "onboarding"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// openProgress opens whichever store CTSYNC_STORE names, to read progress.
func (e *environment) openProgress(ctx context.Context) (*store.Store, string, func(), error) {
	kind, err := e.storeKind(storeSQLite)
	if err != nil {
		return nil, "", nil, err
	}
	if kind == storeSQLite {
		st, err := app.OpenState(e.stateDir(), localdb.Options{ExistingOnly: true})
		if errors.Is(err, localdb.ErrNoState) {
			return nil, e.stateDir(), func() {}, err
		}
		if err != nil {
			return nil, "", nil, err
		}
		return st.Store, e.stateDir(), func() { st.Close() }, nil
	}
	shared, err := e.openSharedState(ctx, kind)
	if err != nil {
		return nil, "", nil, err
	}
	return shared.store, "the " + kind + " store", func() {}, nil
}
