// Package azfunc runs the chain as an Azure Functions custom handler: the
// Functions host receives Service Bus messages and timer ticks and POSTs
// them to this HTTP server as invocation envelopes (POST /<function name>).
//
// One function per step, named after the step's queue, with a
// serviceBusTrigger on that queue; "harvest" with a timerTrigger; "intake"
// with an httpTrigger for automation and ticket systems. Their function.json
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
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/host/cloud"
)

// Function names besides the step queues.
const (
	HarvestFunction = "harvest"
	IntakeFunction  = "intake"
	// MessageBinding is the serviceBusTrigger's binding name.
	MessageBinding = "message"
	// RequestBinding and ResponseBinding are the intake's HTTP bindings.
	RequestBinding, ResponseBinding = "req", "res"
)

// Handler serves the custom handler protocol.
type Handler struct {
	*cloud.Host
}

// envelope is the host's invocation request.
type envelope struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
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
	var env envelope
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&env); err != nil {
		http.Error(w, "invocation envelope is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	var out answer
	var err error
	switch function {
	case HarvestFunction:
		out, err = h.harvest(r.Context())
	case IntakeFunction:
		out = h.intake(r.Context(), env)
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
func (h *Handler) step(ctx context.Context, function string, env envelope, invocation string) (answer, error) {
	if !h.Router.Table.HasQueue(function) {
		return answer{}, fmt.Errorf("no function %q in the chain table", function)
	}
	body, err := payload(env.Data[MessageBinding])
	if err != nil {
		return answer{}, fmt.Errorf("message binding: %w", err)
	}
	d := bus.Delivery{ID: metaString(env.Metadata["MessageId"]), Queue: function, Body: body,
		DeliveryCount: metaInt(env.Metadata["DeliveryCount"]), LockToken: invocation}
	if d.DeliveryCount == 0 {
		d.DeliveryCount = 1
	}
	if d.ID == "" {
		d.ID = invocation
	}
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

// intake accepts an onboarding.requested CloudEvent posted over HTTP. The
// Functions host authenticates the caller (authLevel function).
func (h *Handler) intake(ctx context.Context, env envelope) answer {
	respond := func(status int, body any) answer {
		raw, _ := json.Marshal(body)
		// statusCode and status both: hosts read either, case-insensitively
		// (older ones wanted every field present).
		return answer{Outputs: map[string]any{ResponseBinding: map[string]any{
			"statusCode": strconv.Itoa(status), "status": strconv.Itoa(status), "body": string(raw),
			"headers": map[string]string{"Content-Type": "application/json"}}}}
	}
	var req struct {
		Method string `json:"Method"`
		Body   string `json:"Body"`
	}
	if err := json.Unmarshal(env.Data[RequestBinding], &req); err != nil {
		return respond(http.StatusBadRequest, map[string]string{"error": "the request binding is not an HTTP request"})
	}
	if req.Method != "" && !strings.EqualFold(req.Method, http.MethodPost) {
		return respond(http.StatusMethodNotAllowed, map[string]string{"error": "POST an onboarding.requested CloudEvent"})
	}
	accepted, err := h.Accept(ctx, []byte(req.Body))
	var invalid *cloud.InvalidRequest
	switch {
	case errors.As(err, &invalid):
		return respond(http.StatusBadRequest, map[string]string{"error": invalid.Problem})
	case err != nil:
		return respond(http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	}
	return respond(http.StatusAccepted, accepted)
}

// payload reads a Service Bus trigger's value in any form the Functions
// host sends it. The host builds Data with GetHttpScriptInvocationContextValue
// (Azure/azure-functions-host, src/WebJobs.Script/Workers/
// ScriptInvocationContextExtensions.cs): a byte[] goes out base64-encoded
// unless the binding's dataType is "binary", an object as JSON, and anything
// else through JsonConvert.SerializeObject — a string as a JSON string
// holding the body. Bindings sets dataType "string", so a message arrives as
// a JSON string; a body that was itself a serialized string arrives nested
// deeper. All three forms are accepted: an object, a JSON string of any
// depth, base64.
func payload(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	for depth := 0; depth < 8; depth++ {
		switch {
		case len(raw) == 0 || string(raw) == "null":
			return nil, errors.New("missing")
		case raw[0] == '{':
			return raw, nil
		case raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("not a JSON string: %w", err)
			}
			raw = bytes.TrimSpace([]byte(s))
			if len(raw) > 0 && raw[0] != '{' && raw[0] != '"' {
				decoded, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, errors.New("neither a JSON object, nor a string holding one, nor base64 of one")
				}
				raw = bytes.TrimSpace(decoded)
			}
		default:
			return nil, errors.New("not a JSON object, a string holding one, or base64 of one")
		}
	}
	return nil, errors.New("nested too deep")
}

// metaString reads a metadata value that may arrive as a string, or as a
// string holding a JSON string.
func metaString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	var inner string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &inner) == nil {
		return inner
	}
	return s
}

// metaInt reads a number that may arrive as a number or a string.
func metaInt(raw json.RawMessage) int {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	n, _ = strconv.Atoi(strings.Trim(metaString(raw), `"`))
	return n
}
