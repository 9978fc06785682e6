package steps

import (
	"context"
	"strings"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// DeleteConfigurationApp deletes the configuration app after its job: the
// service principal, then the application behind it (looked up by appId
// first, so a run interrupted between the two deletes still finds it).
// ctsync's records of creating them go too, so a later onboarding of the
// pair creates afresh instead of waiting for objects that are gone.
func (s *Steps) DeleteConfigurationApp(ctx context.Context, in events.Offboarding) (outcome.Result, error) {
	if in.ServicePrincipalID == "" {
		note.Add(ctx, "no configuration app to delete")
		return emit(events.SourceAppDeleted, in)
	}
	source, err := s.dirs.Tenant(ctx, in.SourceTenantID)
	if err != nil {
		return outcome.Result{}, err
	}
	appObjectID := ""
	if in.AppID != "" {
		if appObjectID, err = source.FindApplication(ctx, in.AppID); err != nil {
			return outcome.Result{}, err
		}
	}
	_, err = source.GetServicePrincipal(ctx, in.ServicePrincipalID)
	if err == nil {
		err = source.DeleteServicePrincipal(ctx, in.ServicePrincipalID)
		if err == nil {
			note.Add(ctx, "deleted service principal %s", in.ServicePrincipalID)
		}
	}
	if err != nil && !fault.Is(err, fault.NotFound) {
		return outcome.Result{}, err
	}
	if appObjectID != "" {
		switch err := source.DeleteApplication(ctx, appObjectID); {
		case err == nil:
			note.Add(ctx, "deleted application %s (appId %s)", appObjectID, in.AppID)
		case !fault.Is(err, fault.NotFound):
			return outcome.Result{}, err
		}
	}
	for _, key := range []string{configurationAppKey(in.SourceTenantID, in.TargetTenantID), "secrets/" + strings.ToLower(in.ServicePrincipalID)} {
		if err := s.intents.ReleaseIntent(ctx, key); err != nil {
			return outcome.Result{}, err
		}
	}
	return emit(events.SourceAppDeleted, in)
}
