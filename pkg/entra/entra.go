// Package entra is the part of Microsoft Graph that cross-tenant
// synchronization needs, as plain Go: one Directory per tenant, value types
// for what it returns, and the permissions each operation requires. Steps
// program against these interfaces; pkg/graph implements them with the Graph
// SDK. Keeping the SDK behind this line keeps every other package fast to
// build and test.
package entra

import (
	"context"
	"encoding/json"
	"time"
)

// CrossTenantSyncTemplateID is the application template of the cross-tenant
// synchronization configuration app.
const CrossTenantSyncTemplateID = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7"

// SyncJobTemplateID is the synchronization template of a cross-tenant job.
const SyncJobTemplateID = "Azure2Azure"

// UserInboundRule is the schema rule provisioning on demand runs for users.
const UserInboundRule = "USER_INBOUND_USER"

// Directories hands out one Directory per tenant, each with its own token.
type Directories interface {
	Tenant(ctx context.Context, tenantID string) (Directory, error)
}

// Directory is one tenant's Graph. Errors are *fault.Error: NotFound,
// Conflict, Denied (with a remedy naming the permission), Throttled (with
// RetryAfter), Transient or Invalid.
type Directory interface {
	TenantID() string
	// SignIn obtains a token for the tenant: it proves the tenant exists in
	// this cloud and the ctsync application is consented there, before
	// anything is written anywhere.
	SignIn(ctx context.Context) error

	GetPartner(ctx context.Context, partnerTenantID string) (Partner, error)
	CreatePartner(ctx context.Context, partnerTenantID string) (Partner, error)
	// SetAutomaticUserConsent writes both flags: Graph may replace the whole
	// automaticUserConsentSettings value on PATCH.
	SetAutomaticUserConsent(ctx context.Context, partnerTenantID string, consent AutoConsent) error

	GetIdentitySync(ctx context.Context, partnerTenantID string) (IdentitySync, error)
	CreateIdentitySync(ctx context.Context, partnerTenantID string, policy IdentitySync) error
	UpdateIdentitySync(ctx context.Context, partnerTenantID string, policy IdentitySync) error

	FindServicePrincipals(ctx context.Context, templateID, displayName string) ([]ServicePrincipal, error)
	GetServicePrincipal(ctx context.Context, id string) (ServicePrincipal, error)
	// InstantiateTemplate is not idempotent: every call creates an application.
	InstantiateTemplate(ctx context.Context, templateID, displayName string) (ServicePrincipal, error)

	ValidateCredentials(ctx context.Context, spID string, credentials []Secret) error
	ListJobs(ctx context.Context, spID string) ([]Job, error)
	// CreateJob is not idempotent: every call creates a job.
	CreateJob(ctx context.Context, spID, templateID string) (Job, error)
	GetJob(ctx context.Context, spID, jobID string) (Job, error)
	SaveSecrets(ctx context.Context, spID string, secrets []Secret) error
	ListAssignments(ctx context.Context, spID string) ([]Assignment, error)
	Assign(ctx context.Context, spID, appRoleID, principalID string) (Assignment, error)
	// Unassign removes one app role assignment.
	Unassign(ctx context.Context, spID, assignmentID string) error
	SynchronizationRules(ctx context.Context, spID, jobID string) ([]SyncRule, error)
	// GetSchema reads the job's whole schema; PutSchema replaces it (Graph
	// answers PATCH with 404).
	GetSchema(ctx context.Context, spID, jobID string) (*Schema, error)
	PutSchema(ctx context.Context, spID, jobID string, schema *Schema) error
	FilterOperators(ctx context.Context, spID, jobID string) ([]FilterOperator, error)
	// GetUser reads a user with the given properties besides id,
	// displayName and userType; ListGroupMembers reads a group's direct
	// members (not transitive, as CTS evaluates them) the same way.
	GetUser(ctx context.Context, id string, properties []string) (User, error)
	ListGroupMembers(ctx context.Context, groupID string, properties []string) ([]User, error)
	ProvisionOnDemand(ctx context.Context, spID, jobID, ruleID, userID string) (OnDemandResult, error)
	StartJob(ctx context.Context, spID, jobID string) error
	RestartJob(ctx context.Context, spID, jobID, resetScope string) error

	// ProvisioningLogs reads one page of /auditLogs/provisioning: the first
	// page of q when next is empty, else the page next points to.
	ProvisioningLogs(ctx context.Context, q LogQuery, next string) (LogPage, error)

	// Teardown, in Microsoft's order: job, service principal, application,
	// identity synchronization, partner (refused while its identity
	// synchronization exists). FindApplication returns "" when none has appID.
	DeleteJob(ctx context.Context, spID, jobID string) error
	DeleteServicePrincipal(ctx context.Context, spID string) error
	FindApplication(ctx context.Context, appID string) (string, error)
	DeleteApplication(ctx context.Context, objectID string) error
	DeleteIdentitySync(ctx context.Context, partnerTenantID string) error
	DeletePartner(ctx context.Context, partnerTenantID string) error
}

// Partner is a cross-tenant access partner configuration. nil flags inherit
// the default policy, which does not redeem automatically.
type Partner struct {
	TenantID string
	Inbound  *bool // automaticUserConsentSettings.inboundAllowed
	Outbound *bool // automaticUserConsentSettings.outboundAllowed
}

// AutoConsent is automaticUserConsentSettings.
type AutoConsent struct {
	Inbound  *bool
	Outbound *bool
}

// IdentitySync is a partner's identity synchronization policy.
type IdentitySync struct {
	DisplayName string
	SyncAllowed bool
}

// ServicePrincipal is the configuration application's service principal.
type ServicePrincipal struct {
	ID, AppID, DisplayName, TemplateID string
	AppRoles                           []AppRole
}

// AppRole is one of the service principal's app roles.
type AppRole struct {
	ID, DisplayName, Value string
}

// AppRoleNamed returns the id of the app role with the given display name.
func (sp ServicePrincipal) AppRoleNamed(name string) (string, bool) {
	for _, r := range sp.AppRoles {
		if r.DisplayName == name {
			return r.ID, true
		}
	}
	return "", false
}

// Job is a synchronization job and its status.
type Job struct {
	ID, TemplateID string
	ScheduleState  string // Active, Disabled, Paused
	StatusCode     string // NotConfigured, NotRun, Active, Paused, Quarantine
	LastExecution  *Execution
	SteadyState    time.Time // steadyStateFirstAchievedTime; zero when never reached
	Quarantine     *Quarantine
}

// Execution is one synchronization run.
type Execution struct {
	State              string // Succeeded, Failed, EntryLevelErrors
	Began, Ended       time.Time
	ErrorCode, Message string
	Exported, Escrowed int64
}

// NotRunYet reports Entra's "this job has not run" execution: Failed, with
// zero times and error code None.
func (e *Execution) NotRunYet() bool {
	return e == nil || (e.Began.IsZero() && (e.ErrorCode == "" || e.ErrorCode == "None"))
}

// Quarantine is status.quarantine.
type Quarantine struct {
	Reason                    string
	CurrentBegan, NextAttempt time.Time
	ErrorCode, Message        string
}

// Assignment is an app role assignment to the configuration application.
type Assignment struct {
	ID, PrincipalID, PrincipalType, AppRoleID string
}

// SyncRule is a synchronization schema rule.
type SyncRule struct {
	ID, Name string
	Priority int
}

// OnDemandResult summarizes provisionOnDemand's answer, whose key and value
// are JSON strings in one of two documented shapes.
type OnDemandResult struct {
	Result    string // Success, Skipped, Failure, or "" when the shape was not recognised
	ErrorCode string
	Reason    string
}

// Secret is a synchronization credential. Its value never prints: String,
// slog and JSON encoding show it redacted.
type Secret struct {
	Key   string
	Value Redacted
}

// Redacted is a string that does not print.
type Redacted string

func (Redacted) String() string                 { return "[redacted]" }
func (Redacted) GoString() string               { return "[redacted]" }
func (Redacted) MarshalJSON() ([]byte, error)   { return []byte(`"[redacted]"`), nil }
func (r Redacted) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal returns the value for the one place that must send it.
func (r Redacted) Reveal() string { return string(r) }

// LogQuery selects provisioning records of one service principal after a time.
type LogQuery struct {
	ServicePrincipalID string
	After              time.Time
	Top                int
}

// LogPage is one page of provisioning records.
type LogPage struct {
	Records  []LogRecord
	NextLink string
}

// LogRecord is a provisioningObjectSummary: the fields ctsync acts on, and
// the record exactly as Graph sent it.
type LogRecord struct {
	ID                 string
	ActivityDateTime   time.Time
	JobID              string
	ServicePrincipalID string
	Action             string
	Status             string // success, failure, skipped, warning
	SourceID           string
	SourceName         string
	TargetID           string
	TargetName         string
	ErrorCode          string
	Reason             string
	RecommendedAction  string
	Raw                json.RawMessage
}

// User is a directory user with the properties asked for; an absent or
// null property is missing from Properties.
type User struct {
	ID, DisplayName, UserType string
	Properties                map[string]any
}
