// Package onboarding declares ctsync's chains above the router: which step
// each event triggers (the onboarding chain in the order of Microsoft's
// article, the monitor, the alerts), how a step's outcome moves an
// onboarding's recorded progress, which alert a failure raises, and how an
// onboarding request enters the chain. The router (package chain) knows none
// of this; the steps (package steps) know only their own work.
package onboarding

import (
	"context"
	"log/slog"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/steps"
)

// Completion is the event that completes an onboarding: the job runs and
// its first status was read. The monitor carries on from there.
const Completion = events.SourceJobObserved

// OffboardingCompletion is the event that completes an offboarding.
const OffboardingCompletion = events.OffboardingCompleted

// Routes is the onboarding chain, in the order of Microsoft's article: each
// event type and the step it triggers.
func Routes(s *steps.Steps) []chain.Route {
	return []chain.Route{
		{On: events.OnboardingRequested, Step: "ensure-target-partner", Title: "target: partner configuration for the source tenant", Handle: steps.Handle(s.EnsureTargetPartner)},
		{On: events.TargetPartnerEnsured, Step: "ensure-target-identity-sync", Title: "target: allow user synchronization from the source", Handle: steps.Handle(s.EnsureTargetIdentitySync)},
		{On: events.TargetIdentitySyncEnsured, Step: "ensure-target-inbound-auto-redeem", Title: "target: redeem invitations automatically (inbound)", Handle: steps.Handle(s.EnsureTargetInboundAutoRedeem)},
		{On: events.TargetAutoRedeemEnsured, Step: "ensure-source-partner", Title: "source: partner configuration for the target tenant", Handle: steps.Handle(s.EnsureSourcePartner)},
		{On: events.SourcePartnerEnsured, Step: "ensure-source-outbound-auto-redeem", Title: "source: suppress consent prompts (outbound)", Handle: steps.Handle(s.EnsureSourceOutboundAutoRedeem)},
		{On: events.SourceAutoRedeemEnsured, Step: "ensure-configuration-app", Title: "source: configuration app from the template", Handle: steps.Handle(s.EnsureConfigurationApp)},
		{On: events.SourceAppEnsured, Step: "validate-credentials", Title: "source: test the connection to the target", Handle: steps.Handle(s.ValidateCredentials)},
		{On: events.SourceCredentialsValidated, Step: "ensure-sync-job", Title: "source: Azure2Azure synchronization job", Handle: steps.Handle(s.EnsureSyncJob)},
		{On: events.SourceJobEnsured, Step: "ensure-secrets", Title: "source: save the job's credentials", Handle: steps.Handle(s.EnsureSecrets)},
		{On: events.SourceSecretsEnsured, Step: "ensure-assignments", Title: "source: assign users and groups", Handle: steps.Handle(s.EnsureAssignments)},
		{On: events.SourceAssignmentsEnsured, Step: "ensure-schema", Title: "source: scoping filters and attribute mappings in the job's schema", Handle: steps.Handle(s.EnsureSchema)},
		{On: events.SourceSchemaEnsured, Step: "provision-on-demand", Title: "source: provision the first user on demand", Handle: steps.Handle(s.ProvisionOnDemand)},
		{On: events.SourceOnDemandProvisioned, Step: "start-job", Title: "source: start the synchronization job", Handle: steps.Handle(s.StartJob)},
		{On: events.SourceJobStarted, Step: "read-job-status", Title: "source: read the job's first status", Handle: steps.Handle(s.ReadJobStatus)},
	}
}

// OffboardingRoutes take a pair apart in Microsoft's teardown order
// (graph-api.md §8): the job before the configuration app, the target's
// identity synchronization policy before any partner configuration.
func OffboardingRoutes(s *steps.Steps) []chain.Route {
	return []chain.Route{
		{On: events.OffboardingRequested, Step: "delete-sync-job", Title: "source: delete the synchronization job", Handle: steps.Handle(s.DeleteSyncJob)},
		{On: events.SourceJobDeleted, Step: "delete-configuration-app", Title: "source: delete the configuration app (service principal, application)", Handle: steps.Handle(s.DeleteConfigurationApp)},
		{On: events.SourceAppDeleted, Step: "delete-target-identity-sync", Title: "target: delete the identity synchronization policy ctsync created", Handle: steps.Handle(s.DeleteTargetIdentitySync)},
		{On: events.TargetIdentitySyncDeleted, Step: "restore-target-partner", Title: "target: partner configuration deleted or put back (--remove-partners)", Handle: steps.Handle(s.RestoreTargetPartner)},
		{On: events.TargetPartnerRestored, Step: "restore-source-partner", Title: "source: partner configuration deleted or put back (--remove-partners)", Handle: steps.Handle(s.RestoreSourcePartner)},
	}
}

// MonitorRoutes keep reading a started job until it settles.
func MonitorRoutes(s *steps.Steps) []chain.Route {
	monitor := steps.Handle(s.MonitorJob)
	return []chain.Route{
		{On: events.SourceJobObserved, Step: "monitor-job", Title: "monitor: first check of the running job", Handle: monitor},
		{On: events.SyncProgressed, Step: "monitor-job", Title: "monitor: re-check the running job", Handle: monitor},
	}
}

// AlertRoutes deliver alerts. The local host writes them to the log at the
// level their urgency deserves; cloud deployments add subscribers (mail,
// tickets, Logic Apps) to the same queue.
func AlertRoutes(log *slog.Logger) []chain.Route {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	notify := func(ctx context.Context, ev events.Event) (outcome.Result, error) {
		level := slog.LevelWarn
		switch ev.Type {
		case events.SyncSteady, events.OffboardingCompleted:
			level = slog.LevelInfo
		case events.StepFailed, events.SyncQuarantined, events.DriftDetected:
			level = slog.LevelError
		}
		log.Log(ctx, level, "alert", "alert_type", string(ev.Type), "subject", ev.Subject, "correlation_id", ev.CorrelationID, "data", string(ev.Data))
		return outcome.Result{}, nil
	}
	var routes []chain.Route
	for _, t := range alertTypes {
		routes = append(routes, chain.Route{On: t, Step: "notify", Title: "alert: " + string(t), Handle: notify})
	}
	return routes
}

// Table is the whole chain: onboarding, monitor and alert routes. With nil
// steps it still routes (for intake and generated bindings, which only
// address queues); its handlers then must not run.
func Table(s *steps.Steps, log *slog.Logger) (*chain.Table, error) {
	routes := append(append(Routes(s), OffboardingRoutes(s)...), MonitorRoutes(s)...)
	return chain.NewTable(append(routes, AlertRoutes(log)...)...)
}

// Step names one onboarding step for people.
type Step struct{ Name, Title string }

// Steps are the onboarding chain's steps, in order.
func Steps() []Step { return stepsOf(Routes(nil)) }

// OffboardingSteps are the offboarding chain's steps, in order.
func OffboardingSteps() []Step { return stepsOf(OffboardingRoutes(nil)) }

func stepsOf(routes []chain.Route) []Step {
	var out []Step
	for _, r := range routes {
		out = append(out, Step{Name: r.Step, Title: r.Title})
	}
	return out
}
