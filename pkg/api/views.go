package api

import (
	"time"

	"github.com/ctsync/ctsync/pkg/store"
)

// Onboarding is one onboarding as the API and `ctsync status --output json`
// show it: the tenant pair, where its chain stands, what it learned.
// Fields are lowerCamelCase and only ever added; they are separate from the
// stored record so the store may change without breaking a caller.
type Onboarding struct {
	OnboardingID       string    `json:"onboardingId"`
	Kind               string    `json:"kind,omitempty"`
	Name               string    `json:"name"`
	SourceTenantID     string    `json:"sourceTenantId"`
	TargetTenantID     string    `json:"targetTenantId"`
	Users              []string  `json:"users"`
	Groups             []string  `json:"groups"`
	RequestedBy        string    `json:"requestedBy,omitempty"`
	State              string    `json:"state"`
	Step               string    `json:"step,omitempty"`
	Detail             string    `json:"detail,omitempty"`
	Remedy             string    `json:"remedy,omitempty"`
	ServicePrincipalID string    `json:"servicePrincipalId,omitempty"`
	AppID              string    `json:"appId,omitempty"`
	JobID              string    `json:"jobId,omitempty"`
	JobStatus          string    `json:"jobStatus,omitempty"`
	SyncState          string    `json:"syncState,omitempty"`
	Drift              string    `json:"drift,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

// OnboardingView is o as shown.
func OnboardingView(o store.Onboarding) Onboarding {
	return Onboarding{OnboardingID: o.ID, Kind: o.Kind, Name: o.Name, SourceTenantID: o.SourceTenantID, TargetTenantID: o.TargetTenantID,
		Users: nonNil(o.Users), Groups: nonNil(o.Groups), RequestedBy: o.RequestedBy, State: string(o.State), Step: o.Step, Detail: o.Detail,
		Remedy: o.Remedy, ServicePrincipalID: o.ServicePrincipalID, AppID: o.AppID, JobID: o.JobID, JobStatus: o.JobStatus,
		SyncState: string(o.SyncState), Drift: o.Drift, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

// Step is one step of an onboarding.
type Step struct {
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`
	Runs       int       `json:"runs"`
	Detail     string    `json:"detail,omitempty"`
	TookMillis int64     `json:"tookMillis"`
	StartedAt  time.Time `json:"startedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// StepsView is steps as shown.
func StepsView(steps []store.Step) []Step {
	out := make([]Step, 0, len(steps))
	for _, s := range steps {
		out = append(out, Step{Name: s.Name, State: string(s.State), Attempts: s.Attempts, Runs: s.Runs, Detail: s.Detail,
			TookMillis: s.Took.Milliseconds(), StartedAt: s.StartedAt, UpdatedAt: s.UpdatedAt})
	}
	return out
}

// Status is GET /onboardings/{id} and `ctsync status ID --output json`.
type Status struct {
	Onboarding Onboarding `json:"onboarding"`
	Steps      []Step     `json:"steps"`
}

// StatusView is an onboarding and its steps as shown.
func StatusView(o store.Onboarding, steps []store.Step) Status {
	return Status{Onboarding: OnboardingView(o), Steps: StepsView(steps)}
}

// Accepted is the answer to POST /onboardings.
type Accepted struct {
	OnboardingID string `json:"onboardingId"`
	EventID      string `json:"eventId"`
	// Location is where to poll the onboarding's status (also the Location header).
	Location string `json:"location"`
	// Existing is true when the same request (CloudEvent id, or onboardingId)
	// was accepted before: nothing new was queued.
	Existing bool `json:"existing"`
}

// Problem is every refusal's body.
type Problem struct {
	Error string `json:"error"`
	// Field names the request field that is wrong, when one is.
	Field string `json:"field,omitempty"`
	// Tenant names the tenant outside the allow-list (403).
	Tenant string `json:"tenant,omitempty"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
