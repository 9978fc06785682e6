package events

import "sort"

// Spec describes one event type: what it means, which data fields it must
// carry and which it may carry. Validation and the JSON Schemas in schema/
// are both derived from these specs, so they cannot disagree.
type Spec struct {
	Type        Type
	Description string
	Required    []string
	Optional    []string
	// NewData returns a pointer to the Go type the data decodes into.
	NewData func() any
}

var (
	pairFields      = []string{"onboardingId", "sourceTenantId", "targetTenantId", "configurationName", "users"}
	onboardingExtra = []string{"groups", "requestedBy", "configuration", "resumeJobs", "recreate", "servicePrincipalId", "appId", "appRoleId", "jobId"}
	appFields       = []string{"servicePrincipalId", "appId", "appRoleId"}
	jobFields       = []string{"jobId"}
	statusFields    = []string{"statusCode", "scheduleState", "exported", "escrowed", "check"}
	statusExtra     = []string{"lastExecutionState", "lastExecutionError", "steadyStateSince"}
)

func onboardingSpec(t Type, description string, required ...[]string) Spec {
	req := concat(append([][]string{pairFields}, required...)...)
	return Spec{Type: t, Description: description, Required: req, Optional: minus(onboardingExtra, req),
		NewData: func() any { return new(Onboarding) }}
}

func statusSpec(t Type, description string, newData func() any, extraRequired, extraOptional []string) Spec {
	req := concat(pairFields, appFields, jobFields, statusFields, extraRequired)
	return Spec{Type: t, Description: description, Required: req,
		Optional: minus(concat(onboardingExtra, statusExtra, extraOptional), req), NewData: newData}
}

var offboardingFields = []string{"offboardingId", "sourceTenantId", "targetTenantId", "configurationName"}

func offboardingSpec(t Type, description string) Spec {
	return Spec{Type: t, Description: description, Required: offboardingFields,
		Optional: []string{"appId", "removePartners", "requestedBy", "servicePrincipalId"}, NewData: func() any { return new(Offboarding) }}
}

var specs = []Spec{
	onboardingSpec(OnboardingRequested, "A tenant pair should be set up for cross-tenant synchronization. Posted by automation, a ticket system or `ctsync onboard`."),
	onboardingSpec(TargetPartnerEnsured, "The target tenant has a cross-tenant access partner configuration for the source tenant."),
	onboardingSpec(TargetIdentitySyncEnsured, "The target tenant allows user synchronization inbound from the source tenant (identitySynchronization.userSyncInbound.isSyncAllowed = true)."),
	onboardingSpec(TargetAutoRedeemEnsured, "The target tenant redeems invitations from the source tenant automatically (automaticUserConsentSettings.inboundAllowed = true)."),
	onboardingSpec(SourcePartnerEnsured, "The source tenant has a cross-tenant access partner configuration for the target tenant."),
	onboardingSpec(SourceAutoRedeemEnsured, "The source tenant suppresses consent prompts for the target tenant (automaticUserConsentSettings.outboundAllowed = true)."),
	onboardingSpec(SourceAppEnsured, "The source tenant has the configuration application (template 518e5f48-1fc8-4c48-9387-9fdf28b0dfe7) and its service principal is readable.", appFields),
	onboardingSpec(SourceCredentialsValidated, "The configuration application can reach the target tenant (validateCredentials succeeded, or a job already exists).", appFields),
	onboardingSpec(SourceJobEnsured, "The configuration application has an Azure2Azure synchronization job.", appFields, jobFields),
	onboardingSpec(SourceSecretsEnsured, "The job's credentials (CompanyId, AuthenticationType=SyncPolicy, …) are saved.", appFields, jobFields),
	onboardingSpec(SourceAssignmentsEnsured, "Every requested user and group is assigned to the configuration application.", appFields, jobFields),
	onboardingSpec(SourceSchemaEnsured, "The job's schema carries the requested scoping filters and attribute mappings (or none were requested).", appFields, jobFields),
	onboardingSpec(SourceOnDemandProvisioned, "The first assigned user was provisioned on demand, or the job was already running.", appFields, jobFields),
	onboardingSpec(SourceJobStarted, "The synchronization job's schedule is active.", appFields, jobFields),
	statusSpec(SourceJobObserved, "The first read of the job after it started; the onboarding chain ends here and the monitor takes over.",
		func() any { return new(JobStatus) }, nil, nil),
	statusSpec(SyncProgressed, "The monitor's delayed re-check of a running job that has not reached steady state yet.",
		func() any { return new(JobStatus) }, nil, nil),
	statusSpec(SyncSteady, "The job reached steady state: its initial cycle completed.",
		func() any { return new(JobStatus) }, nil, nil),
	statusSpec(SyncQuarantined, "The job is in quarantine; remedy says what Microsoft documents to do.",
		func() any { return new(Quarantined) }, []string{"quarantineReason", "remedy"}, []string{"quarantineSince", "nextAttempt", "heldDeletions", "heldDeletionCount"}),
	offboardingSpec(OffboardingRequested, "A tenant pair's cross-tenant synchronization should be taken apart, in Microsoft's order. Posted by `ctsync offboard`, "+
		"`ctsync apply` for a pair with state: absent, or POST /offboardings. Synchronized accounts stay in the target."),
	offboardingSpec(SourceJobDeleted, "The configuration's synchronization job is deleted (or there was none); the accounts it synchronized stay."),
	offboardingSpec(SourceAppDeleted, "The configuration app's service principal and application are deleted (or there were none)."),
	offboardingSpec(TargetIdentitySyncDeleted, "The target's identity synchronization policy for the source is deleted if ctsync created it, else put back as ctsync found it."),
	offboardingSpec(TargetPartnerRestored, "With removePartners, the target's partner configuration for the source is deleted if ctsync created it, "+
		"else its inbound automatic redemption is put back as ctsync found it; without, it is left alone."),
	offboardingSpec(OffboardingCompleted, "The offboarding is complete: the source's partner configuration was handled like the target's, and the pair is no longer managed."),
	{Type: StepFailed, Description: "A step of an onboarding or an offboarding gave up; the triggering message is in the dead-letter queue with the same reason. " +
		"onboardingId is the offboarding's id for an offboarding, which names no users.",
		Required: concat(minus(pairFields, []string{"users"}), []string{"step", "category", "reason", "attempts", "failedEventId", "failedEventType"}),
		Optional: concat([]string{"users"}, onboardingExtra, []string{"remedy"}),
		NewData:  func() any { return new(StepFailure) }},
	{Type: DriftDetected, Description: "A setting of a tenant pair (sourceTenantId, targetTenantId, configurationName) is no longer what ctsync made it: " +
		"setting names it, expected and actual say what ctsync made and what it found.",
		Required: []string{"sourceTenantId", "targetTenantId", "configurationName", "setting", "expected", "actual"},
		Optional: []string{"onboardingId", "servicePrincipalId", "jobId", "remedy"},
		NewData:  func() any { return new(Drift) }},
	{Type: ProvisioningFailed, Description: "A provisioning log record with status failure, for alerting.",
		Required: []string{"sourceTenantId", "servicePrincipalId", "recordId", "activityDateTime", "provisioningAction"},
		Optional: []string{"onboardingId", "jobId", "sourceIdentity", "targetIdentity", "errorCode", "reason", "recommendedAction"},
		NewData:  func() any { return new(ProvisioningFailure) }},
}

var specByType = func() map[Type]Spec {
	m := make(map[Type]Spec, len(specs))
	for _, s := range specs {
		m[s.Type] = s
	}
	return m
}()

// Specs returns every event type's spec, in chain order.
func Specs() []Spec { return append([]Spec(nil), specs...) }

// Lookup returns the spec of t.
func Lookup(t Type) (Spec, bool) {
	s, ok := specByType[t]
	return s, ok
}

func concat(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func minus(list, remove []string) []string {
	drop := map[string]bool{}
	for _, r := range remove {
		drop[r] = true
	}
	var out []string
	for _, s := range list {
		if !drop[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
