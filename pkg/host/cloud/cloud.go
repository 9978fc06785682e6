// Package cloud is what the cloud hosts (Azure Functions, AWS Lambda) share
// above their platform's protocol: the router that handles a step's message,
// the intake that accepts an onboarding request, and the harvest run with its
// report. Each host only translates its platform's payloads to these.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/wire"
)

// Host is a cloud host's shared half.
type Host struct {
	Router *chain.Router
	// Intake records and queues a valid onboarding.requested event and
	// returns its onboarding id.
	Intake func(ctx context.Context, ev events.Event) (string, error)
	// Harvest runs one harvest of the provisioning logs.
	Harvest func(ctx context.Context) (harvest.Summary, error)
	Log     *slog.Logger
}

// Logger returns the host's logger (never nil).
func (h *Host) Logger() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// Accepted answers an accepted onboarding request.
type Accepted struct {
	OnboardingID string `json:"onboardingId"`
	EventID      string `json:"eventId"`
}

// InvalidRequest is a request the caller must correct; its message names the
// field.
type InvalidRequest struct{ Problem string }

func (e *InvalidRequest) Error() string { return e.Problem }

// ErrUnavailable means a valid request could not be queued; the caller
// should retry.
var ErrUnavailable = errors.New("the onboarding could not be queued; retry")

// Accept parses body as an onboarding.requested CloudEvent, validates it
// and queues it. A malformed request is an *InvalidRequest; a failure to
// queue is ErrUnavailable (the cause is logged, not shown to the caller).
func (h *Host) Accept(ctx context.Context, body []byte) (Accepted, error) {
	ev, err := wire.OnboardingRequest(body)
	if err != nil {
		return Accepted{}, &InvalidRequest{Problem: err.Error()}
	}
	id, err := h.Intake(ctx, ev)
	if err != nil {
		h.Logger().Error("intake failed", "event_id", ev.ID, "error", err)
		return Accepted{}, ErrUnavailable
	}
	return Accepted{OnboardingID: id, EventID: ev.ID}, nil
}

// HarvestReport describes one harvest run for the platform's logs and
// invocation results.
type HarvestReport struct {
	Skipped        string   `json:"skipped,omitempty"`
	Configurations int      `json:"configurations"`
	Pages          int      `json:"pages"`
	Records        int      `json:"records"`
	Delivered      int      `json:"delivered"`
	Failures       int      `json:"failedProvisioning"`
	Lost           []string `json:"lost,omitempty"`
	Errors         []string `json:"errors,omitempty"`
}

// Lines renders the report as log lines.
func (r HarvestReport) Lines() []string {
	if r.Skipped != "" {
		return []string{"harvest skipped: " + r.Skipped}
	}
	lines := []string{fmt.Sprintf("harvested %d configuration(s): %d page(s), %d record(s), %d new, %d failed provisioning",
		r.Configurations, r.Pages, r.Records, r.Delivered, r.Failures)}
	for _, l := range r.Lost {
		lines = append(lines, "LOST: "+l)
	}
	for _, e := range r.Errors {
		lines = append(lines, "error: "+e)
	}
	return lines
}

// RunHarvest runs one harvest. Another harvest holding the lease is a
// skip, not a failure: the timer fires again.
func (h *Host) RunHarvest(ctx context.Context) (HarvestReport, error) {
	if h.Harvest == nil {
		return HarvestReport{}, errors.New("no harvester configured")
	}
	sum, err := h.Harvest(ctx)
	if errors.Is(err, harvest.ErrBusy) {
		h.Logger().Info("harvest skipped", "reason", err.Error())
		return HarvestReport{Skipped: err.Error()}, nil
	}
	if err != nil {
		return HarvestReport{}, err
	}
	r := HarvestReport{Configurations: sum.Configurations, Pages: sum.Pages, Records: sum.Records, Delivered: sum.Delivered, Failures: sum.Failures}
	for _, g := range sum.Gaps {
		r.Lost = append(r.Lost, fmt.Sprintf("logs of %s from %s to %s expired before they were read", g.Config.ServicePrincipalID, g.From, g.To))
	}
	for _, e := range sum.Errors {
		r.Errors = append(r.Errors, e.Error())
	}
	return r, nil
}
