package steps

import (
	"context"
	"strings"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/store"
)

// accessRole is the configuration app's only app role; users and groups are
// assigned to it.
const accessRole = "msiam_access"

// EnsureConfigurationApp makes the source tenant have the configuration
// application, instantiated from the cross-tenant synchronization template,
// and waits until its service principal is readable (step 6).
//
// Instantiation is not idempotent and a new service principal stays
// unreadable for a while, so the create runs under a create-once intent per
// tenant pair: a message redelivered after a successful instantiate finds the
// intent and waits for the object instead of creating a second app.
func (s *Steps) EnsureConfigurationApp(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	key := configurationAppKey(in.SourceTenantID, in.TargetTenantID)
	var listed entra.ServicePrincipal // what the lookup by name returned, app roles included
	spID, err := s.ensureOnce(ctx, createOnce{
		key:  key,
		what: "configuration app",
		find: func(ctx context.Context, known string) (string, error) {
			var err error
			listed, err = s.findConfigurationApp(ctx, source, in, key, known)
			return listed.ID, err
		},
		readable: readableBy(func(ctx context.Context, id string) error {
			_, err := source.GetServicePrincipal(ctx, id)
			return err
		}),
		create: func(ctx context.Context) (string, error) {
			sp, err := source.InstantiateTemplate(ctx, entra.CrossTenantSyncTemplateID, in.ConfigurationName)
			return sp.ID, err
		},
		// Someone deleted the app ctsync made, perhaps on purpose: it is
		// made again only when the onboarding says so.
		deleted: func(id string) error {
			if in.Recreate {
				return nil
			}
			return &drifted{events.Drift{OnboardingID: in.OnboardingID, SourceTenantID: in.SourceTenantID, TargetTenantID: in.TargetTenantID,
				ConfigurationName: in.ConfigurationName, ServicePrincipalID: id, Setting: "configurationApp",
				Expected: "configuration app " + id + " exists", Actual: "configuration app " + id + " was deleted outside ctsync (its job went with it)",
				Remedy: "if the deletion was not intended, apply again with --recreate to create a new configuration app and job; if it was, offboard the pair"}}
		},
	})
	if err != nil {
		return outcome.Result{}, err
	}
	sp := listed
	if sp.ID != spID || !outcome.WaitStateOf(ctx).Since.IsZero() {
		// Created here, or just appeared after a wait: Entra's replicas
		// disagree for a while, so read it once more before building on it.
		sp, err = source.GetServicePrincipal(ctx, spID)
		if fault.Is(err, fault.NotFound) {
			return outcome.Result{}, s.notYet(string(entra.OpGetSP), "service principal %s is not readable yet (replication)", spID)
		}
		if err != nil {
			return outcome.Result{}, err
		}
	}
	if sp.DisplayName != in.ConfigurationName {
		note.Add(ctx, "this tenant pair's configuration app is named %q; the requested name %q is used only when creating one", sp.DisplayName, in.ConfigurationName)
	}
	roleID, ok := sp.AppRoleNamed(accessRole)
	if !ok {
		return outcome.Result{}, &fault.Error{Kind: fault.Invalid, Op: string(entra.OpGetSP), Tenant: in.SourceTenantID,
			Message: "service principal " + sp.ID + " has no " + accessRole + " app role",
			Remedy:  "it was not instantiated from template " + entra.CrossTenantSyncTemplateID + "; delete it or choose another configuration name"}
	}
	in.ServicePrincipalID, in.AppID, in.AppRoleID = sp.ID, sp.AppID, roleID
	return emit(events.SourceAppEnsured, in)
}

// findConfigurationApp looks the app up by template and name. An app whose
// creation ctsync recorded for another tenant pair is never adopted: its
// secrets point at that other target.
func (s *Steps) findConfigurationApp(ctx context.Context, source entra.Directory, in events.Onboarding, key, known string) (entra.ServicePrincipal, error) {
	found, err := source.FindServicePrincipals(ctx, entra.CrossTenantSyncTemplateID, in.ConfigurationName)
	if err != nil {
		return entra.ServicePrincipal{}, err
	}
	var candidates []entra.ServicePrincipal
	for _, sp := range found {
		owners, err := s.intents.IntentKeysFor(ctx, sp.ID)
		if err != nil {
			return entra.ServicePrincipal{}, err
		}
		for _, owner := range owners {
			if owner != key && strings.HasPrefix(owner, "configuration-app/") {
				return entra.ServicePrincipal{}, &fault.Error{Kind: fault.Invalid, Op: "find configuration app", Tenant: in.SourceTenantID,
					Message: "configuration app " + sp.ID + " named " + quote(in.ConfigurationName) + " already serves another tenant pair (" + owner + ")",
					Remedy:  "choose a configuration name that is unique in the source tenant"}
			}
		}
		if strings.EqualFold(sp.ID, known) {
			return sp, nil
		}
		candidates = append(candidates, sp)
	}
	switch len(candidates) {
	case 0:
		return entra.ServicePrincipal{}, nil
	case 1:
		return candidates[0], nil
	}
	ids := make([]string, len(candidates))
	for i, c := range candidates {
		ids[i] = c.ID
	}
	return entra.ServicePrincipal{}, &fault.Error{Kind: fault.Invalid, Op: "find configuration app", Tenant: in.SourceTenantID,
		Message: "several configuration apps are named " + quote(in.ConfigurationName) + ": " + strings.Join(ids, ", "),
		Remedy:  "delete or rename all but one of them in the source tenant, or choose another configuration name"}
}

func quote(s string) string { return "\"" + s + "\"" }

// CreatedApp returns the configuration app ctsync recorded creating (or
// adopting) for the pair, "" when it has no such record.
func CreatedApp(ctx context.Context, intents store.Intents, source, target string) (string, error) {
	intent, held, err := intents.Intent(ctx, configurationAppKey(source, target))
	if err != nil || !held || intent.State != store.IntentDone {
		return "", err
	}
	return intent.ObjectID, nil
}
