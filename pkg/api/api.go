// Package api is ctsync's small HTTP API for ticket systems and automation,
// the same on every host: POST /onboardings starts an onboarding (a
// CloudEvent, or the plain onboarding fields) and answers 202 with where to
// poll; GET /onboardings/{id} says where it stands. openapi.yaml describes
// it. Authentication is the host's: a bearer token on the local host
// (Bearer), the function key on Azure Functions, IAM on a Lambda function
// URL.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/offboard"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
	"github.com/ctsync/ctsync/pkg/wire"
)

// MaxBody bounds a request body: an onboarding of 1,000 users and 1,000
// groups is about 80 KB; a queue message may hold 256 KB.
const MaxBody = 256 << 10

// Store is what the API reads and writes besides the queue.
type Store interface {
	GetOnboarding(ctx context.Context, id string) (store.Onboarding, []store.Step, error)
	IntakeClaim(ctx context.Context, key string) (string, bool, error)
	ClaimIntake(ctx context.Context, key, onboardingID string) error
}

// Server answers the API.
type Server struct {
	// Intake validates against the allow-list, records and queues.
	Intake onboarding.Intake
	Store  Store
	// BasePath prefixes every route: "" on the local host and a Lambda
	// function URL, "/api" under Azure Functions.
	BasePath string
	// Offboarding previews offboardings (POST /offboardings); nil on a host
	// that does not serve them.
	Offboarding *offboard.Previewer
	Log         *slog.Logger
	Now         func() time.Time
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	collection, item := s.BasePath+"/onboardings", s.BasePath+"/onboardings/{id}"
	mux.HandleFunc(collection, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			notAllowed(w, http.MethodPost)
			return
		}
		s.post(w, r)
	})
	mux.HandleFunc(item, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			notAllowed(w, http.MethodGet)
			return
		}
		s.get(w, r)
	})
	mux.HandleFunc(s.BasePath+"/offboardings", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			notAllowed(w, http.MethodPost)
			return
		}
		s.postOffboarding(w, r)
	})
	// An offboarding's progress is kept like an onboarding's, under its id.
	mux.HandleFunc(s.BasePath+"/offboardings/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			notAllowed(w, http.MethodGet)
			return
		}
		s.get(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusNotFound, Problem{Error: "no such resource: the API serves " + collection + ", " + item + " and " +
			s.BasePath + "/offboardings[/{id}]"})
	})
	return mux
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mediaType != "application/json" && mediaType != "application/cloudevents+json") {
		write(w, http.StatusUnsupportedMediaType, Problem{Error: "send application/json (the onboarding fields) or application/cloudevents+json (an onboarding.requested CloudEvent)"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		write(w, http.StatusRequestEntityTooLarge, Problem{Error: "the body is larger than 256 KiB"})
		return
	case err != nil:
		write(w, http.StatusBadRequest, Problem{Error: "the body could not be read: " + err.Error()})
		return
	}
	sub, err := wire.OnboardingSubmission(mediaType, body, s.now())
	if err != nil {
		p := Problem{Error: err.Error()}
		var ve *events.ValidationError
		if errors.As(err, &ve) {
			p.Field = ve.Field
		}
		write(w, http.StatusBadRequest, p)
		return
	}
	in, _ := events.OnboardingOf(sub.Event)
	if err := s.Intake.Allowed.Check(in.SourceTenantID, in.TargetTenantID); err != nil {
		var refused *onboarding.TenantNotAllowed
		errors.As(err, &refused)
		write(w, http.StatusForbidden, Problem{Error: err.Error(), Tenant: refused.TenantID})
		return
	}
	ctx := r.Context()
	if sub.Key != "" {
		id, found, err := s.Store.IntakeClaim(ctx, sub.Key)
		if err != nil {
			s.unavailable(w, "reading the idempotency key", err)
			return
		}
		if found {
			s.accepted(w, Accepted{OnboardingID: id, EventID: sub.Event.ID, Existing: true})
			return
		}
	}
	// Queue first, then claim: a crash in between leaves no claim, and the
	// client's retry queues the same event id again, which the queue (or
	// the router) drops as a duplicate.
	id, err := s.Intake.Accept(ctx, sub.Event)
	if err != nil {
		s.unavailable(w, "queueing the onboarding", err)
		return
	}
	if sub.Key != "" {
		if err := s.Store.ClaimIntake(ctx, sub.Key, id); err != nil {
			s.log().Warn("onboarding queued; its idempotency key was not recorded", "onboarding_id", id, "error", err)
		}
	}
	s.log().Info("onboarding accepted", "onboarding_id", id, "event_id", sub.Event.ID, "source_tenant", in.SourceTenantID, "target_tenant", in.TargetTenantID)
	s.accepted(w, Accepted{OnboardingID: id, EventID: sub.Event.ID})
}

func (s *Server) accepted(w http.ResponseWriter, a Accepted) {
	a.Location = s.BasePath + "/onboardings/" + a.OnboardingID
	w.Header().Set("Location", a.Location)
	write(w, http.StatusAccepted, a)
}

// unavailable answers 503: the request was valid and may be retried as is.
// The cause stays in the log; callers learn only that it failed.
func (s *Server) unavailable(w http.ResponseWriter, what string, err error) {
	s.log().Error("intake failed", "while", what, "error", err)
	w.Header().Set("Retry-After", "5")
	write(w, http.StatusServiceUnavailable, Problem{Error: "the onboarding could not be queued; retry the same request"})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	id := strings.ToLower(r.PathValue("id"))
	if !events.IsGUID(id) {
		write(w, http.StatusBadRequest, Problem{Error: "an onboarding id is a GUID", Field: "id"})
		return
	}
	o, steps, err := s.Store.GetOnboarding(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		write(w, http.StatusNotFound, Problem{Error: "no onboarding " + id})
		return
	}
	if err != nil {
		s.log().Error("status read failed", "onboarding_id", id, "error", err)
		w.Header().Set("Retry-After", "5")
		write(w, http.StatusServiceUnavailable, Problem{Error: "the onboarding's status could not be read; retry"})
		return
	}
	write(w, http.StatusOK, StatusView(o, steps))
}

func notAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	write(w, http.StatusMethodNotAllowed, Problem{Error: "use " + allow})
}

func write(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
