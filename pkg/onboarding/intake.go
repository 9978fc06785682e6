package onboarding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/store"
)

// Intake is where onboarding requests enter the chain: the CLI, the HTTP
// intake and direct invocations all come through it.
type Intake struct {
	Table    *chain.Table
	Queue    bus.Publisher
	Progress store.Progress
	// Allowed is the tenant allow-list; nil allows every tenant.
	Allowed *Tenants
}

// Request is what an onboarding asks for.
type Request struct {
	SourceTenantID string
	TargetTenantID string
	Name           string
	Users          []string
	Groups         []string
	RequestedBy    string
	// Configuration is a desired-state file's pair configuration (apply);
	// nil for `ctsync onboard`.
	Configuration *events.Configuration
	// ResumeJobs and Recreate are apply's --resume-jobs and --recreate.
	ResumeJobs, Recreate bool
}

// Submit validates a request, records it and posts onboarding.requested.
// It returns the onboarding id. Validation errors name the CLI flag.
func (in Intake) Submit(ctx context.Context, r Request) (string, error) {
	id := uuid.NewString()
	data := events.Onboarding{
		OnboardingID: id, SourceTenantID: strings.ToLower(strings.TrimSpace(r.SourceTenantID)),
		TargetTenantID: strings.ToLower(strings.TrimSpace(r.TargetTenantID)), ConfigurationName: strings.TrimSpace(r.Name),
		Users: lowerAll(r.Users), Groups: lowerAll(r.Groups), RequestedBy: r.RequestedBy, Configuration: r.Configuration,
		ResumeJobs: r.ResumeJobs, Recreate: r.Recreate,
	}
	ev, err := events.New(events.OnboardingRequested, data)
	if err != nil {
		return "", err
	}
	ev.Stamp("/ctsync/cli", id, id, time.Now())
	_, sealed, err := ev.Sealed()
	if err != nil {
		var ve *events.ValidationError
		if errors.As(err, &ve) {
			return "", &flagError{field: flagName(ve.Field), problem: ve.Problem}
		}
		return "", err
	}
	return in.Accept(ctx, sealed)
}

// flagError is a validation error phrased for the command line.
type flagError struct{ field, problem string }

func (e *flagError) Error() string { return e.field + ": " + e.problem }

// Accept records a parsed, valid onboarding.requested event as requested
// and posts it to the queue the table names for it. It returns the
// onboarding id.
func (in Intake) Accept(ctx context.Context, ev events.Event) (string, error) {
	data, ok := events.OnboardingOf(ev)
	if !ok || ev.Type != events.OnboardingRequested {
		return "", fmt.Errorf("type: only %s starts an onboarding, got %s", events.OnboardingRequested, ev.Type)
	}
	if err := in.Allowed.Check(data.SourceTenantID, data.TargetTenantID); err != nil {
		return "", err
	}
	if ev.CorrelationID == "" {
		ev.CorrelationID = data.OnboardingID
	}
	if ev.Subject == "" {
		ev.Subject = data.OnboardingID
	}
	out, err := in.Table.Outgoing(ev)
	if err != nil {
		return "", err
	}
	if err := in.Progress.SaveOnboarding(ctx, store.Onboarding{ID: data.OnboardingID, SourceTenantID: data.SourceTenantID,
		TargetTenantID: data.TargetTenantID, Name: data.ConfigurationName, Users: data.Users, Groups: data.Groups,
		RequestedBy: data.RequestedBy, State: store.StateRequested}); err != nil {
		return "", err
	}
	if err := in.recordDesired(ctx, *data); err != nil {
		return "", err
	}
	if err := in.Queue.Publish(ctx, out...); err != nil {
		return "", err
	}
	return data.OnboardingID, nil
}

// OffboardRequest is what an offboarding asks for.
type OffboardRequest struct {
	SourceTenantID string
	TargetTenantID string
	Name           string
	RemovePartners bool
	RequestedBy    string
}

// SubmitOffboarding validates an offboarding request, records it and posts
// offboarding.requested. It returns the offboarding id.
func (in Intake) SubmitOffboarding(ctx context.Context, r OffboardRequest) (string, error) {
	ev, err := OffboardingEvent(r)
	if err != nil {
		return "", err
	}
	return in.AcceptOffboarding(ctx, ev)
}

// OffboardingEvent is the sealed offboarding.requested event of r, with a
// new offboarding id. Validation errors name the CLI flag.
func OffboardingEvent(r OffboardRequest) (events.Event, error) {
	id := uuid.NewString()
	ev, err := events.New(events.OffboardingRequested, events.Offboarding{OffboardingID: id,
		SourceTenantID: strings.ToLower(strings.TrimSpace(r.SourceTenantID)), TargetTenantID: strings.ToLower(strings.TrimSpace(r.TargetTenantID)),
		ConfigurationName: strings.TrimSpace(r.Name), RemovePartners: r.RemovePartners, RequestedBy: r.RequestedBy})
	if err != nil {
		return events.Event{}, err
	}
	ev.Stamp("/ctsync/cli", id, id, time.Now())
	_, sealed, err := ev.Sealed()
	if err != nil {
		var ve *events.ValidationError
		if errors.As(err, &ve) {
			return events.Event{}, &flagError{field: flagName(ve.Field), problem: ve.Problem}
		}
		return events.Event{}, err
	}
	return sealed, nil
}

// AcceptOffboarding records a parsed, valid offboarding.requested event and
// posts it. It returns the offboarding id.
func (in Intake) AcceptOffboarding(ctx context.Context, ev events.Event) (string, error) {
	data, ok := ev.Payload().(*events.Offboarding)
	if !ok || ev.Type != events.OffboardingRequested {
		return "", fmt.Errorf("type: only %s starts an offboarding, got %s", events.OffboardingRequested, ev.Type)
	}
	if err := in.Allowed.Check(data.SourceTenantID, data.TargetTenantID); err != nil {
		return "", err
	}
	if ev.CorrelationID == "" {
		ev.CorrelationID = data.OffboardingID
	}
	if ev.Subject == "" {
		ev.Subject = data.OffboardingID
	}
	out, err := in.Table.Outgoing(ev)
	if err != nil {
		return "", err
	}
	if err := in.Progress.SaveOnboarding(ctx, store.Onboarding{ID: data.OffboardingID, Kind: store.KindOffboarding, SourceTenantID: data.SourceTenantID,
		TargetTenantID: data.TargetTenantID, Name: data.ConfigurationName, RequestedBy: data.RequestedBy, State: store.StateRequested}); err != nil {
		return "", err
	}
	if err := in.Queue.Publish(ctx, out...); err != nil {
		return "", err
	}
	return data.OffboardingID, nil
}

// flagName translates an event field into the CLI flag that sets it.
func flagName(field string) string {
	switch {
	case strings.HasPrefix(field, "data.sourceTenantId"):
		return "--source-tenant"
	case strings.HasPrefix(field, "data.targetTenantId"):
		return "--target-tenant"
	case strings.HasPrefix(field, "data.configurationName"):
		return "--name"
	case strings.HasPrefix(field, "data.users"):
		return "--user" + strings.TrimPrefix(field, "data.users")
	case strings.HasPrefix(field, "data.groups"):
		return "--group" + strings.TrimPrefix(field, "data.groups")
	}
	return field
}

func lowerAll(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// pairRecords is the part of the store that keeps each pair's record.
type pairRecords interface {
	UpdatePair(ctx context.Context, source, target string, fn func(p *store.Pair) error) (store.Pair, error)
}

// Desired is what a pair's record keeps of an apply: the drift timer
// compares the tenants with it on any host, without the file.
type Desired struct {
	ConfigurationName string               `json:"configurationName"`
	Users             []string             `json:"users"`
	Groups            []string             `json:"groups,omitempty"`
	Configuration     events.Configuration `json:"configuration"`
}

// recordDesired records an applied pair's desired configuration in its
// pair record, before the chain starts making it so.
func (in Intake) recordDesired(ctx context.Context, data events.Onboarding) error {
	pairs, ok := in.Progress.(pairRecords)
	if data.Configuration == nil || !ok {
		return nil
	}
	raw, err := json.Marshal(Desired{ConfigurationName: data.ConfigurationName, Users: data.Users, Groups: data.Groups, Configuration: *data.Configuration})
	if err != nil {
		return err
	}
	_, err = pairs.UpdatePair(ctx, data.SourceTenantID, data.TargetTenantID, func(p *store.Pair) error {
		p.Desired, p.AppliedAt = raw, time.Now().UTC()
		return nil
	})
	return err
}
