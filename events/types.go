package events

// Type is a CloudEvents type attribute. There is one per step outcome; the
// chain table (pkg/chain) decides which handler each one triggers.
type Type string

// The onboarding chain, in the order of Microsoft's article: target tenant
// first, then the source tenant's configuration.
const (
	OnboardingRequested        Type = "onboarding.requested"
	TargetPartnerEnsured       Type = "target.partner.ensured"
	TargetIdentitySyncEnsured  Type = "target.identitysync.ensured"
	TargetAutoRedeemEnsured    Type = "target.autoredeem.ensured"
	SourcePartnerEnsured       Type = "source.partner.ensured"
	SourceAutoRedeemEnsured    Type = "source.autoredeem.ensured"
	SourceAppEnsured           Type = "source.app.ensured"
	SourceCredentialsValidated Type = "source.credentials.validated"
	SourceJobEnsured           Type = "source.job.ensured"
	SourceSecretsEnsured       Type = "source.secrets.ensured"
	SourceAssignmentsEnsured   Type = "source.assignments.ensured"
	SourceSchemaEnsured        Type = "source.schema.ensured"
	SourceOnDemandProvisioned  Type = "source.ondemand.provisioned"
	SourceJobStarted           Type = "source.job.started"
	SourceJobObserved          Type = "source.job.observed"
)

// The offboarding chain, in Microsoft's teardown order: the job, the
// configuration app, the target's identity synchronization policy, then
// the partner configurations (deleted or put back as ctsync found them).
const (
	OffboardingRequested      Type = "offboarding.requested"
	SourceJobDeleted          Type = "source.job.deleted"
	SourceAppDeleted          Type = "source.app.deleted"
	TargetIdentitySyncDeleted Type = "target.identitysync.deleted"
	TargetPartnerRestored     Type = "target.partner.restored"
	OffboardingCompleted      Type = "offboarding.completed"
)

// Monitoring and alerting.
const (
	// SyncProgressed is the monitor's own re-check: published with a delay
	// until the job reaches steady state or quarantine.
	SyncProgressed     Type = "sync.progressed"
	SyncSteady         Type = "sync.steady"
	SyncQuarantined    Type = "sync.quarantined"
	ProvisioningFailed Type = "provisioning.failed"
	StepFailed         Type = "step.failed"
	// DriftDetected reports a setting of a tenant pair that is no longer
	// what ctsync made it: changed or deleted outside ctsync.
	DriftDetected Type = "drift.detected"
)

// Onboarding is the data of every onboarding-chain event: the tenant pair,
// what was asked for, and the ids learned so far. Handlers hold no state
// between messages; what later steps need travels here.
type Onboarding struct {
	OnboardingID      string   `json:"onboardingId"`
	SourceTenantID    string   `json:"sourceTenantId"`
	TargetTenantID    string   `json:"targetTenantId"`
	ConfigurationName string   `json:"configurationName"`
	Users             []string `json:"users"`
	Groups            []string `json:"groups,omitempty"`
	RequestedBy       string   `json:"requestedBy,omitempty"`
	// Configuration is what a desired-state file asks for (ctsync apply).
	Configuration *Configuration `json:"configuration,omitempty"`
	// ResumeJobs and Recreate undo what a person may have done on purpose
	// (apply --resume-jobs, --recreate): a paused job is resumed, and a
	// configuration app deleted outside ctsync is created again. Without
	// them both are reported and left alone.
	ResumeJobs bool `json:"resumeJobs,omitempty"`
	Recreate   bool `json:"recreate,omitempty"`

	ServicePrincipalID string `json:"servicePrincipalId,omitempty"`
	AppID              string `json:"appId,omitempty"`
	AppRoleID          string `json:"appRoleId,omitempty"`
	JobID              string `json:"jobId,omitempty"`
}

// Offboarding is the data of every offboarding-chain event: the pair, the
// configuration to take apart, and whether its partner configurations go
// too. What the onboarding found before it changed anything is read from
// the pair's record, not carried here.
type Offboarding struct {
	OffboardingID      string `json:"offboardingId"`
	SourceTenantID     string `json:"sourceTenantId"`
	TargetTenantID     string `json:"targetTenantId"`
	ConfigurationName  string `json:"configurationName"`
	RemovePartners     bool   `json:"removePartners,omitempty"`
	RequestedBy        string `json:"requestedBy,omitempty"`
	ServicePrincipalID string `json:"servicePrincipalId,omitempty"`
	AppID              string `json:"appId,omitempty"`
}

// Pair implements Paired: progress, logs and the allow-list treat an
// offboarding like the onboarding of its pair, under its own id.
func (o *Offboarding) Pair() *Onboarding {
	return &Onboarding{OnboardingID: o.OffboardingID, SourceTenantID: o.SourceTenantID, TargetTenantID: o.TargetTenantID,
		ConfigurationName: o.ConfigurationName, RequestedBy: o.RequestedBy, ServicePrincipalID: o.ServicePrincipalID, AppID: o.AppID}
}

// JobStatus is what a read of the synchronization job showed.
type JobStatus struct {
	Onboarding
	StatusCode         string `json:"statusCode"`
	ScheduleState      string `json:"scheduleState"`
	LastExecutionState string `json:"lastExecutionState,omitempty"`
	LastExecutionError string `json:"lastExecutionError,omitempty"`
	SteadyStateSince   string `json:"steadyStateSince,omitempty"`
	Exported           int64  `json:"exported"`
	Escrowed           int64  `json:"escrowed"`
	Check              int    `json:"check"`
}

// Quarantined reports a job in quarantine with Microsoft's documented remedy.
type Quarantined struct {
	JobStatus
	QuarantineReason string `json:"quarantineReason"`
	QuarantineSince  string `json:"quarantineSince,omitempty"`
	NextAttempt      string `json:"nextAttempt,omitempty"`
	Remedy           string `json:"remedy"`
	// HeldDeletions names the users a TooManyDeletes quarantine holds back
	// ("name (id), …"), from the provisioning logs' StagedDelete records.
	HeldDeletions     string `json:"heldDeletions,omitempty"`
	HeldDeletionCount int    `json:"heldDeletionCount,omitempty"`
}

// StepFailure reports a step that gave up. Reason says what happened, Remedy
// what a person should change before replaying the dead letter.
type StepFailure struct {
	Onboarding
	Step            string `json:"step"`
	Category        string `json:"category"`
	Reason          string `json:"reason"`
	Remedy          string `json:"remedy,omitempty"`
	Attempts        int    `json:"attempts"`
	FailedEventID   string `json:"failedEventId"`
	FailedEventType string `json:"failedEventType"`
}

// Drift names one setting of a tenant pair (source, target and the
// configuration's name) that differs from what ctsync made it: what was
// expected, what was found, and what a person can do.
type Drift struct {
	OnboardingID       string `json:"onboardingId,omitempty"`
	SourceTenantID     string `json:"sourceTenantId"`
	TargetTenantID     string `json:"targetTenantId"`
	ConfigurationName  string `json:"configurationName"`
	ServicePrincipalID string `json:"servicePrincipalId,omitempty"`
	JobID              string `json:"jobId,omitempty"`
	Setting            string `json:"setting"`
	Expected           string `json:"expected"`
	Actual             string `json:"actual"`
	Remedy             string `json:"remedy,omitempty"`
}

// ProvisioningFailure is one failed provisioning record, for alerting.
type ProvisioningFailure struct {
	OnboardingID       string `json:"onboardingId,omitempty"`
	SourceTenantID     string `json:"sourceTenantId"`
	ServicePrincipalID string `json:"servicePrincipalId"`
	JobID              string `json:"jobId,omitempty"`
	RecordID           string `json:"recordId"`
	ActivityDateTime   string `json:"activityDateTime"`
	ProvisioningAction string `json:"provisioningAction"`
	SourceIdentity     string `json:"sourceIdentity,omitempty"`
	TargetIdentity     string `json:"targetIdentity,omitempty"`
	ErrorCode          string `json:"errorCode,omitempty"`
	Reason             string `json:"reason,omitempty"`
	RecommendedAction  string `json:"recommendedAction,omitempty"`
}
