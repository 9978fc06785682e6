package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ctsync/ctsync/pkg/entra"
)

// runApproveDeletes approves the deletions a job's accidental-deletion
// threshold held back: it restarts the job with ForceDeletes, after a person
// looked. It refuses when the job is not held for that reason.
func runApproveDeletes(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("approve-deletes")
	source := fs.String("source-tenant", "", "the pair's source tenant id")
	target := fs.String("target-tenant", "", "the pair's target tenant id")
	name := fs.String("name", "", "the configuration's name (the app's display name in the source tenant)")
	yes := fs.Bool("yes", false, "approve without asking")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	var missing []string
	for flagName, v := range map[string]string{"--source-tenant": *source, "--target-tenant": *target, "--name": *name} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, flagName)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", errUsage, strings.Join(missing, ", "))
	}
	allowed, err := env.allowedTenants()
	if err != nil {
		return err
	}
	if err := allowed.Check(*source, *target); err != nil {
		return err
	}
	gc, err := graphClient(env)
	if err != nil {
		return err
	}
	dir, err := gc.Tenant(ctx, *source)
	if err != nil {
		return err
	}
	sps, err := dir.FindServicePrincipals(ctx, entra.CrossTenantSyncTemplateID, *name)
	if err != nil {
		return err
	}
	if len(sps) != 1 {
		return fmt.Errorf("found %d configuration apps named %q in tenant %s; expected one", len(sps), *name, *source)
	}
	jobs, err := dir.ListJobs(ctx, sps[0].ID)
	if err != nil {
		return err
	}
	var job *entra.Job
	for i := range jobs {
		if jobs[i].TemplateID == entra.SyncJobTemplateID {
			job = &jobs[i]
		}
	}
	if job == nil {
		return fmt.Errorf("configuration %q has no synchronization job", *name)
	}
	if job.Quarantine == nil || job.Quarantine.Reason != "TooManyDeletes" {
		reason := "not in quarantine"
		if job.Quarantine != nil {
			reason = "in quarantine for " + job.Quarantine.Reason
		}
		return fmt.Errorf("job %s is %s: there are no held deletions to approve", job.ID, reason)
	}
	fmt.Fprintf(env.stdout, "job %s of %q holds deletions back: %s\n", job.ID, *name, job.Quarantine.Message)
	if !*yes {
		if err := confirmWith(env.stdout, os.Stdin, "Type yes to let the job delete them: "); err != nil {
			return err
		}
	}
	if err := dir.RestartJob(ctx, sps[0].ID, job.ID, "ForceDeletes,QuarantineState"); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "approved: job %s restarts with ForceDeletes; its next cycle makes the held deletions\n", job.ID)
	return nil
}
