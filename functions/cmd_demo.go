package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/desired"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/plan"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

// runDemo onboards the sample tenant pair against an in-process emulator,
// through the same code, SDK and HTTPS calls as a real onboarding.
func runDemo(ctx context.Context, env *environment, args []string) error {
	if _, err := env.parse(newFlagSet("demo"), args); err != nil {
		return err
	}
	sim, err := graphsim.Start(graphsim.Options{AppReplicationDelay: 1500 * time.Millisecond, JobReplicationDelay: 800 * time.Millisecond,
		CycleInterval: time.Second, InitialCycleDelay: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	defer sim.Close()
	sim.AddSampleTenants()
	// One user's provisioning fails, as it would with the most restrictive
	// guest settings in the target, so the logs show a failure and its alert.
	nestor := graphsim.SampleUsers[3]
	sim.FailProvisioning(graphsim.SampleSourceTenant, nestor.ID, "AzureActiveDirectoryForbidden",
		"Guest invitations to the target tenant are restricted by its external collaboration settings.")
	dir := filepath.Join(env.stateDir(), "demo")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	cfg := app.Config{
		StateDir: dir,
		Graph: graph.Config{AuthorityHost: sim.URL, GraphEndpoint: sim.URL, ClientID: sim.ClientID(),
			ClientSecret: entra.Redacted(sim.ClientSecret()), RootCAs: sim.CA.Pool()},
		Chain: app.ChainConfig{
			Steps:  steps.Options{ReplicationWindow: 30 * time.Second, ReplicationPoll: 500 * time.Millisecond, MonitorInterval: time.Second},
			Policy: chain.Policy{BaseDelay: 250 * time.Millisecond, MaxDelay: 2 * time.Second, MaxAttempts: 40},
		},
		// The demo's output is its progress lines; only errors are logged
		// beside them unless CTSYNC_LOG_LEVEL asks for more.
		Log: env.logger(slog.LevelError),
	}
	a, err := app.Open(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	w := env.stdout
	fmt.Fprintf(w, "ctsync demo — Graph + login emulator at %s\n  tenants: Contoso %s (source), Fabrikam %s (target)\n\n",
		sim.URL, graphsim.SampleSourceTenant, graphsim.SampleTargetTenant)
	id, err := a.Intake.Submit(ctx, onboarding.Request{SourceTenantID: graphsim.SampleSourceTenant, TargetTenantID: graphsim.SampleTargetTenant,
		Name: "Contoso to Fabrikam", Users: []string{graphsim.SampleUsers[0].ID, graphsim.SampleUsers[1].ID}, Groups: []string{graphsim.SampleGroup},
		RequestedBy: "ctsync demo"})
	if err != nil {
		return err
	}
	if err := waitForOnboarding(ctx, w, localFollower(a), id); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nmonitoring the job until its first cycle completes…\n")
	steadyCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var o store.Onboarding
	err = a.Host.RunUntil(steadyCtx, func(ctx context.Context) (bool, error) {
		var err error
		o, _, err = a.Store.GetOnboarding(ctx, id)
		return o.SyncState != "", err
	})
	if err != nil {
		return fmt.Errorf("the job did not settle: %w", err)
	}
	fmt.Fprintf(w, "  job %s: %s (%s)\n", o.JobID, o.JobStatus, o.LastEvent)
	fmt.Fprintf(w, "  users now in Fabrikam, synchronized from Contoso:\n")
	for _, u := range sim.Tenant(graphsim.SampleTargetTenant).Users {
		if u.ExternalTenant != "" {
			fmt.Fprintf(w, "    %-14s %s (from %s)\n", u.DisplayName, u.ID, u.ExternalUser)
		}
	}

	out := filepath.Join(dir, "provisioning.jsonl")
	fmt.Fprintf(w, "\ncollecting provisioning logs into %s…\n", out)
	jl, err := harvest.OpenJSONLines(out)
	if err != nil {
		return err
	}
	defer jl.Close()
	sum, err := a.Harvester([]harvest.Sink{jl}, harvest.Options{}).Run(ctx)
	if err != nil {
		return err
	}
	printSummary(w, sum)
	if err := a.Host.Drain(ctx, 0); err != nil { // deliver the provisioning.failed alerts
		return err
	}
	failed, err := a.Records.QueryRecords(ctx, store.RecordQuery{Status: "failure", Limit: 5})
	if err != nil {
		return err
	}
	for _, r := range failed {
		fmt.Fprintf(w, "  failed: %s (%s): %s — alerted as provisioning.failed\n", r.SourceName, r.ErrorCode, r.Reason)
	}
	if err := demoPlan(ctx, w, cfg.Graph, a.Store); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nstate kept in %s; for example:\n  CTSYNC_STATE_DIR=%s ctsync status %s\n  CTSYNC_STATE_DIR=%s ctsync logs --status failure\n", dir, dir, id, dir)
	return nil
}

// demoPlan previews a desired-state file that narrows the pair to the
// Marketing department: what would change and who would leave the scope,
// before anything is written.
func demoPlan(ctx context.Context, w io.Writer, cfg graph.Config, intents store.Intents) error {
	gc, err := graph.New(cfg)
	if err != nil {
		return err
	}
	filters := []events.ScopingFilter{{Name: "Marketing department",
		Clauses: []events.FilterClause{{Attribute: "department", Operator: "EQUALS", Values: []string{"Marketing"}}}}}
	f := &desired.File{APIVersion: desired.APIVersion, Pairs: []desired.Pair{{Name: "Contoso to Fabrikam",
		SourceTenant: graphsim.SampleSourceTenant, TargetTenant: graphsim.SampleTargetTenant,
		Settings: desired.Settings{Users: []string{graphsim.SampleUsers[0].ID, graphsim.SampleUsers[1].ID}, Groups: []string{graphsim.SampleGroup},
			ScopingFilters: &filters}}}}
	fmt.Fprintf(w, "\nconfiguration as code: `ctsync plan -f FILE` for a file that narrows the pair to\n"+
		"  scopingFilters: [{name: Marketing department, clauses: [{attribute: department, operator: EQUALS, values: [Marketing]}]}]\n\n")
	p, err := plan.Planner{Dirs: gc, Secrets: func(ctx context.Context, in events.Onboarding) (bool, bool, error) {
		return steps.SavedSecretsMatch(ctx, intents, in)
	}}.Make(ctx, f)
	if err != nil {
		return err
	}
	plan.Text(w, p)
	fmt.Fprintf(w, "(a preview: nothing was written; `ctsync apply -f FILE` would ask before removing anyone)\n")
	return nil
}
