package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/drift"
	"github.com/ctsync/ctsync/pkg/onboarding"
)

// runDrift runs the drift timer's check once, here: every pair apply
// manages, against the desired configuration recorded for it in the
// configured store. New drift is alerted (drift.detected on the configured
// queue) as the timer would. Exit 2 when anything drifted.
func runDrift(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("drift")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	gc, err := graphClient(env)
	if err != nil {
		return err
	}
	intake, err := env.openIntake(ctx)
	if err != nil {
		return err
	}
	defer intake.Close()
	table, err := onboarding.Table(nil, nil)
	if err != nil {
		return err
	}
	d := &drift.Detector{Dirs: gc, Store: intake.Store, Log: env.logger(slog.LevelError), AllowTenant: intake.Allowed.Allows,
		Alerts: func(ctx context.Context, evs []events.Event) error {
			out, err := table.Outgoing(evs...)
			if err != nil {
				return err
			}
			return intake.Queue.Publish(ctx, out...)
		}}
	sum, err := d.Run(ctx)
	if err != nil {
		return err
	}
	for _, f := range sum.Found {
		fmt.Fprintf(env.stdout, "! %q (source %s → target %s) %s: %s, want %s\n", f.ConfigurationName, f.SourceTenantID, f.TargetTenantID,
			f.Setting, f.Actual, f.Expected)
	}
	for _, e := range sum.Errors {
		fmt.Fprintf(env.stderr, "drift check failed: %v\n", e)
	}
	fmt.Fprintf(env.stdout, "drift: %d pair(s) checked, %d drifted, %d setting(s) (%d new, alerted) in %s\n",
		sum.Pairs, sum.Drifted, sum.Settings, sum.New, sum.Took.Round(time.Millisecond))
	switch {
	case len(sum.Errors) > 0:
		return fmt.Errorf("%d pair(s) could not be checked", len(sum.Errors))
	case sum.Settings > 0:
		return errChangesPending
	}
	return nil
}
