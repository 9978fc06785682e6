package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/offboard"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/plan"
)

// runOffboard shows what offboarding a pair deletes and puts back, asks,
// then posts offboarding.requested; the chain takes the pair apart in
// Microsoft's order. An offboarding with nothing left to do posts nothing,
// so a second offboard makes no write.
func runOffboard(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("offboard")
	var req onboarding.OffboardRequest
	fs.StringVar(&req.SourceTenantID, "source-tenant", "", "the pair's source tenant id")
	fs.StringVar(&req.TargetTenantID, "target-tenant", "", "the pair's target tenant id")
	fs.StringVar(&req.Name, "name", "", "the configuration's name, when ctsync has no record of the pair (default: the name it was onboarded with)")
	fs.BoolVar(&req.RemovePartners, "remove-partners", false, "also delete the partner configurations ctsync created, and turn off the automatic redemption it turned on in those it found")
	fs.StringVar(&req.RequestedBy, "requested-by", "", "ticket or requester, kept for audit")
	yes := fs.Bool("yes", false, "proceed without asking")
	wait := fs.Bool("wait", false, "follow the offboarding until it completes or fails (the local queue runs here; a cloud deployment runs its own)")
	timeout := fs.Duration("timeout", 30*time.Minute, "with --wait, stop waiting after this long")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if err := checkTimeout(fs, *wait, *timeout); err != nil {
		return err
	}
	for flagName, v := range map[string]*string{"--source-tenant": &req.SourceTenantID, "--target-tenant": &req.TargetTenantID} {
		*v = strings.ToLower(strings.TrimSpace(*v))
		if !events.IsGUID(*v) {
			return fmt.Errorf("%w: %s: %q is not a tenant id (a GUID)", errUsage, flagName, *v)
		}
	}
	allowed, err := env.allowedTenants()
	if err != nil {
		return err
	}
	if err := allowed.Check(req.SourceTenantID, req.TargetTenantID); err != nil {
		return err
	}
	preview, err := previewOffboarding(ctx, env, &req)
	if err != nil {
		return err
	}
	plan.Text(env.stdout, plan.Plan{Pairs: []plan.Pair{preview}})
	if !preview.Pending() {
		fmt.Fprintln(env.stdout, "\nnothing to offboard: nothing of this pair is left to delete or put back")
		return nil
	}
	if !*yes {
		if err := confirmWith(env.stdout, os.Stdin, "\nThe offboarding above deletes what is listed. Type yes to proceed: "); err != nil {
			return err
		}
	}
	intake, follow, err := env.openIntakeFor(ctx, *wait)
	if err != nil {
		return err
	}
	defer intake.Close()
	id, err := intake.SubmitOffboarding(ctx, req)
	if err != nil {
		return err
	}
	if !*wait {
		fmt.Fprintf(env.stdout, "queued offboarding %s on %s\n  `ctsync status %s` follows it\n", id, intake.Where, id)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return waitForOffboarding(ctx, env.stdout, follow, id)
}

// previewOffboarding reads the pair's record in the configured store (the
// name it was onboarded with, what the onboarding found) and both tenants,
// and returns what offboarding would do. It fills in req.Name.
func previewOffboarding(ctx context.Context, env *environment, req *onboarding.OffboardRequest) (plan.Pair, error) {
	var previewer offboard.Previewer
	st, where, closeStore, err := env.openProgress(ctx)
	switch {
	case errors.Is(err, localdb.ErrNoState):
	case err != nil:
		return plan.Pair{}, err
	default:
		defer closeStore()
		previewer.Store = st
	}
	gc, err := graphClient(env)
	if err != nil {
		return plan.Pair{}, err
	}
	previewer.Dirs = gc
	preview, err := previewer.Preview(ctx, req)
	if errors.Is(err, offboard.ErrNoName) {
		return plan.Pair{}, fmt.Errorf("%w: no record of onboarding %s → %s in %s; name the configuration with --name", errUsage, req.SourceTenantID, req.TargetTenantID, where)
	}
	return preview, err
}

// waitForOffboarding follows the offboarding, printing each step as the
// store records it, until it completed or failed.
func waitForOffboarding(ctx context.Context, w io.Writer, f follower, id string) error {
	fmt.Fprintf(w, "offboarding %s\n", id)
	_, took, err := followSteps(ctx, w, f, id, "offboarding", onboarding.OffboardingSteps())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "✓ offboarding completed in %s; the synchronized accounts stay in the target\n", took)
	return nil
}
