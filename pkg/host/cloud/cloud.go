// Package cloud is what the cloud hosts (Azure Functions, AWS Lambda) share
// above their platform's protocol: the router that handles a step's message,
// the intake that accepts an onboarding request, and the harvest run with its
// report. Each host only translates its platform's payloads to these.
package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/drift"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/onboarding"
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
	// Drift runs one drift check of every managed pair.
	Drift func(ctx context.Context) (drift.Summary, error)
	// API serves POST /onboardings and GET /onboardings/{id} (package api).
	API http.Handler
	Log *slog.Logger
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
	var refused *onboarding.TenantNotAllowed
	if errors.As(err, &refused) {
		return Accepted{}, &InvalidRequest{Problem: refused.Error()}
	}
	if err != nil {
		h.Logger().Error("intake failed", "event_id", ev.ID, "error", err)
		return Accepted{}, ErrUnavailable
	}
	return Accepted{OnboardingID: id, EventID: ev.ID}, nil
}

// Response is an API answer, for a platform to send back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ServeAPI answers an HTTP request a platform handed over as data.
func (h *Host) ServeAPI(ctx context.Context, req wire.HTTPRequest) Response {
	if h.API == nil {
		return Response{Status: http.StatusNotFound, Header: http.Header{"Content-Type": {"application/json"}},
			Body: []byte(`{"error":"this host serves no API"}` + "\n")}
	}
	w := &responseBuffer{header: http.Header{}}
	h.API.ServeHTTP(w, req.Request().WithContext(ctx))
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return Response{Status: w.status, Header: w.header, Body: w.body.Bytes()}
}

// responseBuffer collects an answer in memory.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header { return b.header }
func (b *responseBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}
func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
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

// DriftReport is what a drift run tells the platform's log.
type DriftReport struct {
	Pairs    int      `json:"pairs"`
	Drifted  int      `json:"drifted"`
	Settings int      `json:"settings"`
	New      int      `json:"new"`
	Errors   []string `json:"errors,omitempty"`
}

// Lines is the report as log lines.
func (r DriftReport) Lines() []string {
	out := []string{fmt.Sprintf("drift check: %d pair(s), %d drifted (%d setting(s), %d new)", r.Pairs, r.Drifted, r.Settings, r.New)}
	return append(out, r.Errors...)
}

// RunDrift runs one drift check.
func (h *Host) RunDrift(ctx context.Context) (DriftReport, error) {
	if h.Drift == nil {
		return DriftReport{}, errors.New("no drift check configured")
	}
	sum, err := h.Drift(ctx)
	if err != nil {
		return DriftReport{}, err
	}
	r := DriftReport{Pairs: sum.Pairs, Drifted: sum.Drifted, Settings: sum.Settings, New: sum.New}
	for _, e := range sum.Errors {
		r.Errors = append(r.Errors, e.Error())
	}
	return r, nil
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
