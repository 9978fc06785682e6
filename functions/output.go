package main

import (
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/store"
)

// The JSON that `--output json` prints. These types are the contract with
// automation: fields are lowerCamelCase and only ever added, and
// functions/output.schema.json describes them (a test checks every
// command's output against it). An onboarding and its steps look the same
// here as in the HTTP API (package api).

// statusListJSON is `ctsync status --output json`.
type statusListJSON struct {
	Onboardings []api.Onboarding `json:"onboardings"`
	Summary     *statusSummary   `json:"summary,omitempty"`
}

// statusSummary counts every onboarding and offboarding by state.
type statusSummary struct {
	Total   int              `json:"total"`
	ByState map[string]int   `json:"byState"`
	Failed  []api.Onboarding `json:"failed,omitempty"`
}

// onboardJSON is `ctsync onboard --output json`: the id at once when the
// onboarding was queued, the outcome with --wait.
type onboardJSON struct {
	OnboardingID string          `json:"onboardingId"`
	Queued       bool            `json:"queued"`
	Onboarding   *api.Onboarding `json:"onboarding,omitempty"`
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
