package steps

import (
	"context"
	"errors"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
)

// policyCheckFailure is what validation, provisioning on demand and a job
// cycle answer while the partner policies do not (yet) allow the sync.
const policyCheckFailure = "AzureDirectoryB2BManagementPolicyCheckFailure"

// policyRemedy is what a person should check when the policy check keeps
// failing after ctsync set the policies.
const policyRemedy = "in the target tenant, the partner configuration for the source tenant must allow user synchronization " +
	"(identitySynchronization.userSyncInbound.isSyncAllowed) and inbound automatic redemption; in the source tenant, the partner " +
	"configuration for the target tenant must allow outbound automatic redemption. ctsync set these in the earlier steps: if they " +
	"were changed since, replay the onboarding; if not, Entra is still propagating them"

// syncCredentials are the job's connection settings: the target tenant,
// reached through the cross-tenant sync policy.
func syncCredentials(in events.Onboarding) []entra.Secret {
	return []entra.Secret{
		{Key: "CompanyId", Value: entra.Redacted(in.TargetTenantID)},
		{Key: "AuthenticationType", Value: "SyncPolicy"},
	}
}

// ValidateCredentials tests the connection from the configuration app to
// the target tenant before the job is created (step 7). Once a job exists
// the check has been passed and the job's own status reports connectivity,
// so a re-run makes no call.
func (s *Steps) ValidateCredentials(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	job, err := s.findJob(ctx, source, in.ServicePrincipalID, in.JobID)
	if err != nil {
		return outcome.Result{}, err
	}
	if job != "" {
		note.Add(ctx, "job %s exists; its connection was validated before it was created", job)
		return emit(events.SourceCredentialsValidated, in)
	}
	if err := source.ValidateCredentials(ctx, in.ServicePrincipalID, syncCredentials(in)); err != nil {
		return outcome.Result{}, policyFailureIsTransient(err)
	}
	note.Add(ctx, "connection to target tenant %s validated", in.TargetTenantID)
	return emit(events.SourceCredentialsValidated, in)
}

// policyFailureIsTransient keeps retrying a policy check failure for a while:
// right after ctsync sets the partner policies Entra may not apply them yet.
// If it persists, the dead letter carries what to check.
func policyFailureIsTransient(err error) error {
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Code == policyCheckFailure {
		cp := *fe
		cp.Kind = fault.Transient
		cp.Remedy = policyRemedy
		return &cp
	}
	return err
}
