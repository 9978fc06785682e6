// Package azfunc runs the chain as an Azure Functions custom handler: the
// Functions host receives Service Bus messages and timer ticks and POSTs
// them to this HTTP server as invocation envelopes (POST /<function name>).
//
// One function per step, named after the step's queue, with a
// serviceBusTrigger on that queue; "harvest" with a timerTrigger;
// "onboardings" with an httpTrigger serving the API (package api) for
// automation and ticket systems. Their function.json
// files are generated from the chain table (functions/, see Bindings).
//
// The host completes a message when the handler answers 2xx and abandons it
// (immediate redelivery, no backoff) otherwise; a custom handler can neither
// delay, nor dead-letter, nor set a message id through output bindings. So
// the router settles by publishing (package settle) with the Service Bus
// SDK, and the handler answers 2xx. Only a failure to send answers 500, and
// the message comes back.
package azfunc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/host/cloud"
	"github.com/ctsync/ctsync/pkg/wire"
)

// Function names besides the step queues.
const (
	HarvestFunction = "harvest"
	// DriftFunction is the drift check's timer.
	DriftFunction = "drift"
	// OnboardingsFunction serves the API (package api) under
	// /api/onboardings, behind the function key.
	OnboardingsFunction = "onboardings"
	// OffboardingsFunction serves /api/offboardings the same way.
	OffboardingsFunction = "offboardings"
	// APIBasePath is the Functions host's default HTTP route prefix.
	APIBasePath = "/api"
	// MessageBinding is the serviceBusTrigger's binding name.
	MessageBinding = "message"
	// RequestBinding and ResponseBinding are the intake's HTTP bindings.
	RequestBinding, ResponseBinding = "req", "res"
)

// Handler serves the custom handler protocol.
type Handler struct {
	*cloud.Host
}

// answer is the handler's invocation response.
type answer struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		w.WriteHeader(http.StatusOK) // the host's readiness probe
		return
	}
	function := strings.Trim(r.URL.Path, "/")
	if r.Method != http.MethodPost || function == "" || strings.Contains(function, "/") {
		http.Error(w, "not an invocation", http.StatusNotFound)
		return
	}
	env, err := wire.ReadFunctionsInvocation(http.MaxBytesReader(w, r.Body, maxEnvelope))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out answer
	switch function {
	case HarvestFunction:
		out, err = h.harvest(r.Context())
	case DriftFunction:
		var report cloud.DriftReport
		if report, err = h.RunDrift(r.Context()); err == nil {
			out = answer{Outputs: map[string]any{}, Logs: report.Lines()}
		}
	case OnboardingsFunction, OffboardingsFunction:
		out = h.onboardings(r.Context(), env)
	default:
		out, err = h.step(r.Context(), function, env, r.Header.Get("X-Azure-Functions-InvocationId"))
	}
	if err != nil {
		// Non-2xx: the host abandons the message and it comes back, and it
		// drops the answer's Logs (it checks the status first), so the
		// failure is written to stderr, which the host collects.
		h.Logger().Error("invocation failed", "function", function, "error", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(answer{Logs: []string{err.Error()}})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// step handles a Service Bus message for the step whose queue is function.
func (h *Handler) step(ctx context.Context, function string, env wire.FunctionsInvocation, invocation string) (answer, error) {
	if !h.Router.Table.HasQueue(function) {
		return answer{}, fmt.Errorf("no function %q in the chain table", function)
	}
	m, err := env.ServiceBusMessage(MessageBinding, function, invocation)
	if err != nil {
		return answer{}, err
	}
	d := bus.Delivery{ID: m.ID, Queue: m.Queue, Body: m.Body, DeliveryCount: m.DeliveryCount, LockToken: m.LockToken}
	if err := h.Router.Process(ctx, d); err != nil {
		return answer{}, err
	}
	return answer{Outputs: map[string]any{}, Logs: []string{fmt.Sprintf("%s handled message %s (attempt %d)", function, d.ID, d.DeliveryCount)}}, nil
}

func (h *Handler) harvest(ctx context.Context) (answer, error) {
	report, err := h.RunHarvest(ctx)
	if err != nil {
		return answer{}, err
	}
	return answer{Outputs: map[string]any{}, Logs: report.Lines()}, nil
}

// onboardings serves the API (POST /api/onboardings, GET
// /api/onboardings/{id}) from the httpTrigger's request binding. The
// Functions host authenticates the caller (authLevel function: the function
// key) before the invocation reaches ctsync.
func (h *Handler) onboardings(ctx context.Context, env wire.FunctionsInvocation) answer {
	var resp cloud.Response
	req, err := wire.FunctionsHTTPRequest(env.Data[RequestBinding])
	if err != nil {
		body, _ := json.Marshal(map[string]string{"error": err.Error()})
		resp = cloud.Response{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json"}}, Body: append(body, '\n')}
	} else {
		resp = h.ServeAPI(ctx, req)
	}
	headers := map[string]string{}
	for name := range resp.Header {
		headers[name] = resp.Header.Get(name)
	}
	// statusCode and status both: hosts read either, case-insensitively
	// (older ones wanted every field present).
	return answer{Outputs: map[string]any{ResponseBinding: map[string]any{
		"statusCode": strconv.Itoa(resp.Status), "status": strconv.Itoa(resp.Status), "body": string(resp.Body), "headers": headers}}}
}

// maxEnvelope bounds an invocation request: a Service Bus message is at most
// 256 KiB (1 MiB on Premium), encoded at most twice over.
const maxEnvelope = 4 << 20
