package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/offboard"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/plan"
)

// OffboardingRequest is POST /offboardings' body. Without digest it asks
// for the preview; with the digest a preview answered, it carries that
// offboarding out.
type OffboardingRequest struct {
	SourceTenantID    string `json:"sourceTenantId"`
	TargetTenantID    string `json:"targetTenantId"`
	ConfigurationName string `json:"configurationName,omitempty"`
	RemovePartners    bool   `json:"removePartners,omitempty"`
	RequestedBy       string `json:"requestedBy,omitempty"`
	Digest            string `json:"digest,omitempty"`
}

// OffboardingPreview is the answer to a request without a digest (200), or
// with a digest the current preview no longer matches (409).
type OffboardingPreview struct {
	Preview plan.Pair `json:"preview"`
	// Digest identifies this preview: POST it back to carry it out.
	Digest string `json:"digest"`
	// Pending is false when nothing of the pair is left to delete or put
	// back: there is nothing to confirm.
	Pending bool   `json:"pending"`
	Error   string `json:"error,omitempty"`
}

// postOffboarding previews an offboarding, or carries out the one whose
// preview digest the body confirms: nothing destructive happens without
// the caller having been shown exactly what.
func (s *Server) postOffboarding(w http.ResponseWriter, r *http.Request) {
	if s.Offboarding == nil {
		write(w, http.StatusNotFound, Problem{Error: "this host does not serve offboardings"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		write(w, http.StatusUnsupportedMediaType, Problem{Error: "send application/json"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	if err != nil {
		write(w, http.StatusRequestEntityTooLarge, Problem{Error: "the body is larger than 16 KiB, or could not be read"})
		return
	}
	var req OffboardingRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		write(w, http.StatusBadRequest, Problem{Error: "not an offboarding request: " + err.Error()})
		return
	}
	if p, ok := req.invalid(); !ok {
		write(w, http.StatusBadRequest, p)
		return
	}
	if err := s.Intake.Allowed.Check(req.SourceTenantID, req.TargetTenantID); err != nil {
		var refused *onboarding.TenantNotAllowed
		errors.As(err, &refused)
		write(w, http.StatusForbidden, Problem{Error: err.Error(), Tenant: refused.TenantID})
		return
	}
	ask := onboarding.OffboardRequest{SourceTenantID: req.SourceTenantID, TargetTenantID: req.TargetTenantID, Name: req.ConfigurationName,
		RemovePartners: req.RemovePartners, RequestedBy: req.RequestedBy}
	ctx := r.Context()
	preview, err := s.Offboarding.Preview(ctx, &ask)
	switch {
	case errors.Is(err, offboard.ErrNoName):
		write(w, http.StatusBadRequest, Problem{Error: err.Error(), Field: "configurationName"})
		return
	case fault.Is(err, fault.Denied) || fault.Is(err, fault.Invalid):
		write(w, http.StatusBadGateway, Problem{Error: "the tenants could not be read: " + err.Error()})
		return
	case err != nil:
		s.log().Error("offboarding preview failed", "error", err)
		w.Header().Set("Retry-After", "5")
		write(w, http.StatusServiceUnavailable, Problem{Error: "the tenants could not be read; retry the same request"})
		return
	}
	answer := OffboardingPreview{Preview: preview, Digest: offboard.Digest(ask, preview), Pending: preview.Pending()}
	switch {
	case req.Digest == "" || !answer.Pending:
		write(w, http.StatusOK, answer)
		return
	case req.Digest != answer.Digest:
		answer.Error = "the tenants changed since that preview: read this one, and confirm its digest to carry it out"
		write(w, http.StatusConflict, answer)
		return
	}
	ev, err := onboarding.OffboardingEvent(ask)
	if err != nil {
		write(w, http.StatusBadRequest, Problem{Error: err.Error()})
		return
	}
	ev.Source = "/ctsync/api"
	id, err := s.Intake.AcceptOffboarding(ctx, ev)
	if err != nil {
		s.unavailable(w, "queueing the offboarding", err)
		return
	}
	s.log().Info("offboarding accepted", "offboarding_id", id, "source_tenant", ask.SourceTenantID, "target_tenant", ask.TargetTenantID)
	location := s.BasePath + "/offboardings/" + id
	w.Header().Set("Location", location)
	write(w, http.StatusAccepted, Accepted{OnboardingID: id, EventID: ev.ID, Location: location})
}

// invalid checks the request's fields, naming the first wrong one.
func (r *OffboardingRequest) invalid() (Problem, bool) {
	r.SourceTenantID, r.TargetTenantID = strings.ToLower(strings.TrimSpace(r.SourceTenantID)), strings.ToLower(strings.TrimSpace(r.TargetTenantID))
	for field, v := range map[string]string{"sourceTenantId": r.SourceTenantID, "targetTenantId": r.TargetTenantID} {
		if !events.IsGUID(v) {
			return Problem{Error: "a tenant id is a GUID", Field: field}, false
		}
	}
	switch {
	case r.SourceTenantID == r.TargetTenantID:
		return Problem{Error: "must differ from sourceTenantId", Field: "targetTenantId"}, false
	case utf8.RuneCountInString(r.ConfigurationName) > 256 || events.Text(r.ConfigurationName, 0) != strings.TrimSpace(r.ConfigurationName):
		return Problem{Error: "at most 256 characters, without control characters", Field: "configurationName"}, false
	case utf8.RuneCountInString(r.RequestedBy) > 256 || events.Text(r.RequestedBy, 0) != strings.TrimSpace(r.RequestedBy):
		return Problem{Error: "at most 256 characters, without control characters", Field: "requestedBy"}, false
	case r.Digest != "" && (!strings.HasPrefix(r.Digest, "sha256:") || len(r.Digest) != len("sha256:")+64):
		return Problem{Error: "a digest is what a preview answered: sha256: and 64 hexadecimal digits", Field: "digest"}, false
	}
	return Problem{}, true
}
