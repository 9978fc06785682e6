package chain

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/steps"
)

// Completion is the event that completes an onboarding: the job runs and
// its first status was read. The monitor carries on from there.
const Completion = events.SourceJobObserved

// OnboardingRoutes is the onboarding chain, in the order of Microsoft's
// article: each event type and the step it triggers.
func OnboardingRoutes(s *steps.Steps) []Route {
	routes := []Route{
		{On: events.OnboardingRequested, Step: "ensure-target-partner", Title: "target: partner configuration for the source tenant", Handle: onboarding(s.EnsureTargetPartner)},
		{On: events.TargetPartnerEnsured, Step: "ensure-target-identity-sync", Title: "target: allow user synchronization from the source", Handle: onboarding(s.EnsureTargetIdentitySync)},
		{On: events.TargetIdentitySyncEnsured, Step: "ensure-target-inbound-auto-redeem", Title: "target: redeem invitations automatically (inbound)", Handle: onboarding(s.EnsureTargetInboundAutoRedeem)},
		{On: events.TargetAutoRedeemEnsured, Step: "ensure-source-partner", Title: "source: partner configuration for the target tenant", Handle: onboarding(s.EnsureSourcePartner)},
		{On: events.SourcePartnerEnsured, Step: "ensure-source-outbound-auto-redeem", Title: "source: suppress consent prompts (outbound)", Handle: onboarding(s.EnsureSourceOutboundAutoRedeem)},
		{On: events.SourceAutoRedeemEnsured, Step: "ensure-configuration-app", Title: "source: configuration app from the template", Handle: onboarding(s.EnsureConfigurationApp)},
		{On: events.SourceAppEnsured, Step: "validate-credentials", Title: "source: test the connection to the target", Handle: onboarding(s.ValidateCredentials)},
		{On: events.SourceCredentialsValidated, Step: "ensure-sync-job", Title: "source: Azure2Azure synchronization job", Handle: onboarding(s.EnsureSyncJob)},
		{On: events.SourceJobEnsured, Step: "ensure-secrets", Title: "source: save the job's credentials", Handle: onboarding(s.EnsureSecrets)},
		{On: events.SourceSecretsEnsured, Step: "ensure-assignments", Title: "source: assign users and groups", Handle: onboarding(s.EnsureAssignments)},
		{On: events.SourceAssignmentsEnsured, Step: "provision-on-demand", Title: "source: provision the first user on demand", Handle: onboarding(s.ProvisionOnDemand)},
		{On: events.SourceOnDemandProvisioned, Step: "start-job", Title: "source: start the synchronization job", Handle: onboarding(s.StartJob)},
		{On: events.SourceJobStarted, Step: "read-job-status", Title: "source: read the job's first status", Handle: onboarding(s.ReadJobStatus)},
	}
	for i := range routes {
		routes[i].Onboarding = true
	}
	return routes
}

// onboarding adapts a step taking onboarding data into a Handler.
func onboarding(step func(context.Context, events.Onboarding) ([]events.Event, error)) Handler {
	return func(ctx context.Context, ev events.Event) ([]events.Event, error) {
		var in events.Onboarding
		if err := ev.DecodeData(&in); err != nil {
			return nil, err
		}
		return step(ctx, in)
	}
}
