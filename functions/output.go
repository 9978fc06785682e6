package main

import (
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/store"
)

// The JSON that `--output json` prints. These types are the contract with
// automation: fields are lowerCamelCase and only ever added, and
// functions/output.schema.json describes them (a test checks every
// command's output against it). They are separate from the stored records
// so the store may change without breaking a pipeline.

// onboardingJSON is one onboarding as `status` and `onboard` print it.
type onboardingJSON struct {
	OnboardingID       string    `json:"onboardingId"`
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

func onboardingOut(o store.Onboarding) onboardingJSON {
	return onboardingJSON{OnboardingID: o.ID, Name: o.Name, SourceTenantID: o.SourceTenantID, TargetTenantID: o.TargetTenantID,
		Users: nonNil(o.Users), Groups: nonNil(o.Groups), RequestedBy: o.RequestedBy, State: string(o.State), Step: o.Step, Detail: o.Detail,
		Remedy: o.Remedy, ServicePrincipalID: o.ServicePrincipalID, AppID: o.AppID, JobID: o.JobID, JobStatus: o.JobStatus,
		SyncState: string(o.SyncState), Drift: o.Drift, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

// stepJSON is one step of an onboarding.
type stepJSON struct {
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`
	Runs       int       `json:"runs"`
	Detail     string    `json:"detail,omitempty"`
	TookMillis int64     `json:"tookMillis"`
	StartedAt  time.Time `json:"startedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

func stepsOut(steps []store.Step) []stepJSON {
	out := make([]stepJSON, 0, len(steps))
	for _, s := range steps {
		out = append(out, stepJSON{Name: s.Name, State: string(s.State), Attempts: s.Attempts, Runs: s.Runs, Detail: s.Detail,
			TookMillis: s.Took.Milliseconds(), StartedAt: s.StartedAt, UpdatedAt: s.UpdatedAt})
	}
	return out
}

// statusListJSON is `ctsync status --output json`.
type statusListJSON struct {
	Onboardings []onboardingJSON `json:"onboardings"`
}

// statusDetailJSON is `ctsync status ID --output json`.
type statusDetailJSON struct {
	Onboarding onboardingJSON `json:"onboarding"`
	Steps      []stepJSON     `json:"steps"`
}

// onboardJSON is `ctsync onboard --output json`: the id at once when the
// onboarding was queued, the outcome with --wait.
type onboardJSON struct {
	OnboardingID string          `json:"onboardingId"`
	Queued       bool            `json:"queued"`
	Onboarding   *onboardingJSON `json:"onboarding,omitempty"`
}

// deadLetterJSON is one dead letter. The body is left out: it is the
// event, which `dlq replay` sends back as it is.
type deadLetterJSON struct {
	Seq            int64     `json:"seq"`
	Queue          string    `json:"queue"`
	MessageID      string    `json:"messageId"`
	EventType      string    `json:"eventType,omitempty"`
	OnboardingID   string    `json:"onboardingId,omitempty"`
	DeliveryCount  int       `json:"deliveryCount"`
	Reason         string    `json:"reason"`
	Description    string    `json:"description"`
	DeadLetteredAt time.Time `json:"deadLetteredAt"`
}

func deadLetterOut(dl bus.DeadLetter) deadLetterJSON {
	out := deadLetterJSON{Seq: dl.Seq, Queue: dl.Queue, MessageID: dl.ID, DeliveryCount: dl.DeliveryCount, Reason: dl.Reason,
		Description: dl.Description, DeadLetteredAt: dl.At}
	if ev, err := events.Parse(dl.Body); err == nil {
		out.EventType = string(ev.Type)
		if in, ok := events.OnboardingOf(ev); ok {
			out.OnboardingID = in.OnboardingID
		}
	}
	return out
}

// dlqListJSON is `ctsync dlq list --output json`.
type dlqListJSON struct {
	DeadLetters []deadLetterJSON `json:"deadLetters"`
}

// recordJSON is one collected provisioning record, summarized; `logs --raw`
// prints records exactly as Graph sent them.
type recordJSON struct {
	ID                 string    `json:"id"`
	ActivityDateTime   time.Time `json:"activityDateTime"`
	Status             string    `json:"status"`
	Action             string    `json:"action"`
	ServicePrincipalID string    `json:"servicePrincipalId"`
	JobID              string    `json:"jobId,omitempty"`
	SourceID           string    `json:"sourceId,omitempty"`
	SourceName         string    `json:"sourceName,omitempty"`
	TargetID           string    `json:"targetId,omitempty"`
	ErrorCode          string    `json:"errorCode,omitempty"`
	Reason             string    `json:"reason,omitempty"`
}

// logsJSON is `ctsync logs --output json`.
type logsJSON struct {
	Records []recordJSON `json:"records"`
}

func recordsOut(recs []store.Record) logsJSON {
	out := logsJSON{Records: make([]recordJSON, 0, len(recs))}
	for _, r := range recs {
		out.Records = append(out.Records, recordJSON{ID: r.ID, ActivityDateTime: r.Activity, Status: r.Status, Action: r.Action,
			ServicePrincipalID: r.ServicePrincipalID, JobID: r.JobID, SourceID: r.SourceID, SourceName: r.SourceName, TargetID: r.TargetID,
			ErrorCode: r.ErrorCode, Reason: r.Reason})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
