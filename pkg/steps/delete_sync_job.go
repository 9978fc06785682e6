package steps

import (
	"context"
	"strings"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// DeleteSyncJob deletes the pair's synchronization job, the first step of
// Microsoft's teardown order: it stops synchronization and erases the job's
// state; the accounts it synchronized stay in the target. It finds the
// pair's configuration app (the one ctsync created for the pair, else the
// one with the configuration's name) and passes its ids on; with none
// there is nothing to delete. Being the first step to write, it first
// signs in to both tenants.
func (s *Steps) DeleteSyncJob(ctx context.Context, in events.Offboarding) (outcome.Result, error) {
	if err := s.signInToBoth(ctx, *in.Pair()); err != nil {
		return outcome.Result{}, err
	}
	source, err := s.dirs.Tenant(ctx, in.SourceTenantID)
	if err != nil {
		return outcome.Result{}, err
	}
	sp, err := s.configurationAppOf(ctx, source, in)
	if err != nil {
		return outcome.Result{}, err
	}
	if sp.ID == "" {
		note.Add(ctx, "no configuration app named %q: no job to delete", in.ConfigurationName)
		return emit(events.SourceJobDeleted, in)
	}
	in.ServicePrincipalID, in.AppID = sp.ID, sp.AppID
	jobs, err := source.ListJobs(ctx, sp.ID)
	if err != nil && !fault.Is(err, fault.NotFound) {
		return outcome.Result{}, err
	}
	for _, j := range jobs {
		if err := source.DeleteJob(ctx, sp.ID, j.ID); err != nil && !fault.Is(err, fault.NotFound) {
			return outcome.Result{}, err
		}
		note.Add(ctx, "deleted synchronization job %s (its synchronized accounts stay in the target)", j.ID)
	}
	if len(jobs) == 0 {
		note.Add(ctx, "configuration app %s has no job", sp.ID)
	}
	if err := s.intents.ReleaseIntent(ctx, "sync-job/"+strings.ToLower(sp.ID)); err != nil {
		return outcome.Result{}, err
	}
	return emit(events.SourceJobDeleted, in)
}

// configurationAppOf finds the offboarded pair's configuration app: the
// one ctsync recorded creating for this pair, else the one with the
// configuration's name that serves no other pair. A redelivered message
// carries the ids found the first time.
func (s *Steps) configurationAppOf(ctx context.Context, source entra.Directory, in events.Offboarding) (entra.ServicePrincipal, error) {
	if in.ServicePrincipalID != "" {
		sp, err := source.GetServicePrincipal(ctx, in.ServicePrincipalID)
		if fault.Is(err, fault.NotFound) {
			return entra.ServicePrincipal{ID: in.ServicePrincipalID, AppID: in.AppID}, nil
		}
		return sp, err
	}
	key := configurationAppKey(in.SourceTenantID, in.TargetTenantID)
	intent, held, err := s.intents.Intent(ctx, key)
	if err != nil {
		return entra.ServicePrincipal{}, err
	}
	known := ""
	if held {
		known = intent.ObjectID
	}
	return s.findConfigurationApp(ctx, source, *in.Pair(), key, known)
}

func configurationAppKey(source, target string) string {
	return "configuration-app/" + strings.ToLower(source) + "/" + strings.ToLower(target)
}
