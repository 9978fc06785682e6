package steps

import (
	"context"
	"strings"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// EnsureSyncJob makes the configuration app have its Azure2Azure
// synchronization job (step 8). Creating a job is not idempotent and a new
// job may answer 404 for a while, so it runs under a create-once intent like
// the app itself.
func (s *Steps) EnsureSyncJob(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	jobID, err := s.ensureOnce(ctx, createOnce{
		key:  "sync-job/" + strings.ToLower(in.ServicePrincipalID),
		what: "synchronization job",
		find: func(ctx context.Context, known string) (string, error) {
			return s.findJob(ctx, source, in.ServicePrincipalID, known)
		},
		readable: readableBy(func(ctx context.Context, id string) error {
			_, err := source.GetJob(ctx, in.ServicePrincipalID, id)
			return err
		}),
		create: func(ctx context.Context) (string, error) {
			job, err := source.CreateJob(ctx, in.ServicePrincipalID, entra.SyncJobTemplateID)
			return job.ID, err
		},
	})
	if err != nil {
		return outcome.Result{}, err
	}
	if !outcome.WaitStateOf(ctx).Since.IsZero() {
		// It just appeared after a wait: Entra's replicas disagree for a
		// while, so read it once more before the next steps build on it.
		if _, err := source.GetJob(ctx, in.ServicePrincipalID, jobID); fault.Is(err, fault.NotFound) {
			return outcome.Result{}, s.notYet(string(entra.OpGetJob), "job %s appeared and is not readable again yet (replication)", jobID)
		} else if err != nil {
			return outcome.Result{}, err
		}
	}
	in.JobID = jobID
	return emit(events.SourceJobEnsured, in)
}

// findJob returns the id of the app's Azure2Azure job, or "" when it has
// none. known, when set, picks among several.
func (s *Steps) findJob(ctx context.Context, source entra.Directory, spID, known string) (string, error) {
	jobs, err := source.ListJobs(ctx, spID)
	if fault.Is(err, fault.NotFound) {
		return "", s.notYet(string(entra.OpListJobs), "service principal %s is not readable yet (replication)", spID)
	}
	if err != nil {
		return "", err
	}
	var ids []string
	for _, j := range jobs {
		if j.TemplateID != entra.SyncJobTemplateID {
			continue
		}
		if known != "" && j.ID == known {
			return j.ID, nil
		}
		ids = append(ids, j.ID)
	}
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		return ids[0], nil
	}
	return "", &fault.Error{Kind: fault.Invalid, Op: string(entra.OpListJobs), Tenant: source.TenantID(),
		Message: "the configuration app has several Azure2Azure jobs: " + strings.Join(ids, ", "),
		Remedy:  "delete the extra jobs (DELETE /servicePrincipals/" + spID + "/synchronization/jobs/{id}) and replay"}
}
