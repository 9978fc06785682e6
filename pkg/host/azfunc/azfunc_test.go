package azfunc_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/api/apitest"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/host/azfunc"
	"github.com/ctsync/ctsync/pkg/host/hosttest"
	"github.com/ctsync/ctsync/pkg/onboarding"
)

var update = flag.Bool("update", false, "rewrite functions/*/function.json from the chain table")

// functionsDir is where the deployable function folders live.
var functionsDir = filepath.Join("..", "..", "..", "functions")

func TestBindingsMatchTheFilesUnderFunctions(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	want := azfunc.Bindings(a.Table)
	for name, raw := range want {
		path := filepath.Join(functionsDir, name, "function.json")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s drifted from the chain table (run `make functions`): %v", path, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(functionsDir, "*", "function.json"))
	if len(files) != len(want) {
		t.Errorf("functions/ holds %d function.json files, the table makes %d (remove stale folders)", len(files), len(want))
	}
}

func TestInfraQueuesMatchTheChainTable(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	path := filepath.Join("..", "..", "..", "infra", "queues.json")
	if *update {
		if err := os.WriteFile(path, azfunc.Queues(a.Table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, azfunc.Queues(a.Table)) {
		t.Fatalf("%s drifted from the chain table (run `make functions`): %v", path, err)
	}
	bicep, err := os.ReadFile(filepath.Join("..", "..", "..", "infra", "main.bicep"))
	if err != nil || !bytes.Contains(bicep, []byte("loadJsonContent('queues.json')")) {
		t.Fatalf("infra/main.bicep must create its queues from queues.json: %v", err)
	}
	var hostJSON struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string   `json:"defaultExecutablePath"`
				Arguments             []string `json:"arguments"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "host.json"))
	if err != nil || json.Unmarshal(raw, &hostJSON) != nil || hostJSON.CustomHandler.Description.DefaultExecutablePath != "ctsync" ||
		strings.Join(hostJSON.CustomHandler.Description.Arguments, " ") != "functions-host" {
		t.Fatalf("host.json must start `ctsync functions-host`: %s %v", raw, err)
	}
	// Envelope mode for HTTP triggers: either flag would hand the handler the
	// raw request instead of the envelope the intake reads.
	var flags struct {
		CustomHandler map[string]any `json:"customHandler"`
	}
	_ = json.Unmarshal(raw, &flags)
	for _, flag := range []string{"enableForwardingHttpRequest", "enableProxyingHttpRequest"} {
		if v, ok := flags.CustomHandler[flag]; !ok || v != false {
			t.Errorf("host.json must set customHandler.%s to false explicitly, has %v", flag, v)
		}
	}
}

// functionsHost plays the Azure Functions host: it takes messages from the
// queue (the embedded one stands in for Service Bus), posts them to the
// custom handler as invocation envelopes, and completes a message on 2xx or
// abandons it otherwise.
type functionsHost struct {
	t       *testing.T
	queue   *bus.Embedded
	handler *httptest.Server
	// form is how the message body is sent (see encode).
	form string
}

// encode sends a message body the way the Functions host may:
//
//	object  the body as a JSON object
//	string  a JSON string holding the body (dataType "string": what the
//	        host's GetHttpScriptInvocationContextValue makes of a string)
//	double  a JSON string holding a JSON string holding the body (a body
//	        that was itself serialized as a string)
//	base64  base64 of the body's bytes (a byte[] without dataType "binary")
func encode(form string, body []byte) any {
	switch form {
	case "string":
		return string(body)
	case "double":
		inner, _ := json.Marshal(string(body))
		return string(inner)
	case "base64":
		return base64.StdEncoding.EncodeToString(body)
	}
	return json.RawMessage(body)
}

func newFunctionsHost(t *testing.T, a *app.Local) *functionsHost {
	t.Helper()
	srv := httptest.NewServer(&azfunc.Handler{Host: hosttest.CloudHost(a, a.Bus, azfunc.APIBasePath)})
	t.Cleanup(srv.Close)
	return &functionsHost{t: t, queue: a.Bus, handler: srv}
}

func (f *functionsHost) invoke(function string, data map[string]any, metadata map[string]any) (int, map[string]any) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"Data": data, "Metadata": metadata})
	req, _ := http.NewRequest(http.MethodPost, f.handler.URL+"/"+function, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", strconv.FormatInt(time.Now().UnixNano(), 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// deliver hands the next due message to the handler. It reports false when
// nothing is due.
func (f *functionsHost) deliver(queues ...string) (bus.Delivery, int, bool) {
	f.t.Helper()
	ds, err := f.queue.Receive(context.Background(), queues, 1, time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(ds) == 0 {
		return bus.Delivery{}, 0, false
	}
	d := ds[0]
	message := encode(f.form, d.Body)
	// Metadata arrives as the host serializes it: scalars as strings, the
	// message id as a string holding a JSON string.
	st, _ := f.invoke(d.Queue, map[string]any{azfunc.MessageBinding: message},
		map[string]any{"DeliveryCount": strconv.Itoa(d.DeliveryCount), "MessageId": strconv.Quote(d.ID)})
	if st/100 == 2 {
		if err := f.queue.Ack(context.Background(), d); err != nil {
			f.t.Fatal(err)
		}
	} else if err := f.queue.Abandon(context.Background(), d); err != nil {
		f.t.Fatal(err)
	}
	return d, st, true
}

func TestAnOnboardingRunsThroughTheCustomHandlerProtocol(t *testing.T) {
	for _, form := range []string{"object", "string", "double", "base64"} {
		t.Run("message as "+form, func(t *testing.T) {
			sim := hosttest.StartSim(t)
			a := hosttest.Open(t, sim)
			host := newFunctionsHost(t, a)
			host.form = form
			status, header, body := host.api("POST", "/api/onboardings", "application/cloudevents+json", string(hosttest.OnboardingRequest(t)))
			var accepted struct{ OnboardingID, Location string }
			_ = json.Unmarshal(body, &accepted)
			if status != 202 || header["Location"] != "/api/onboardings/"+accepted.OnboardingID || accepted.Location != header["Location"] {
				t.Fatalf("POST: %d %v %s", status, header, body)
			}
			hosttest.RunToCompletion(t, a, accepted.OnboardingID, func() bool {
				_, st, ok := host.deliver()
				if ok && st != 200 {
					t.Fatalf("the handler answered %d", st)
				}
				return ok
			})
			hosttest.AssertSyncRunning(t, sim)
			status, _, body = host.api("GET", accepted.Location, "", "")
			var got struct{ Onboarding struct{ State string } }
			if json.Unmarshal(body, &got) != nil || status != 200 || got.Onboarding.State != "completed" {
				t.Fatalf("GET %s: %d %s", accepted.Location, status, body)
			}
		})
	}
}

func TestATransientFailureBecomesADelayedCopyCarryingItsAttempts(t *testing.T) {
	sim := hosttest.StartSim(t)
	a := hosttest.Open(t, sim)
	host := newFunctionsHost(t, a)
	sim.Inject(graphsim.Fault{Method: "POST", PathContains: "/partners", Times: 100, Status: 503})
	if _, err := a.Intake.Accept(context.Background(), hosttest.Parse(t, hosttest.OnboardingRequest(t))); err != nil {
		t.Fatal(err)
	}
	first, st, ok := host.deliver(hosttest.FirstQueue(t, a))
	if !ok || st != 200 {
		t.Fatalf("first delivery: %v %d", ok, st)
	}
	time.Sleep(200 * time.Millisecond)
	copyMsg, st, ok := host.deliver(hosttest.FirstQueue(t, a))
	if !ok || st != 200 {
		t.Fatalf("the retry copy did not arrive: %v %d", ok, st)
	}
	if copyMsg.ID != events.DeriveID(first.ID, "requeue", 0) || !strings.Contains(string(copyMsg.Body), `"ctsyncattempts":1`) {
		t.Fatalf("copy %s %s", copyMsg.ID, copyMsg.Body)
	}
	_, steps, _ := a.Store.GetOnboarding(context.Background(), hosttest.OnboardingID(t, hosttest.OnboardingRequest(t)))
	if len(steps) != 1 || steps[0].Attempts != 2 {
		t.Fatalf("the copy was not counted as the second attempt: %+v", steps)
	}
}

// Whatever form a bad message arrives in, it is dead-lettered with the
// reason (the handler answers 2xx); a message the handler cannot even read
// is refused with a non-2xx answer, whose Logs the host drops, so the
// failure is on stderr too (the handler's logger).
func TestUnreadableMessagesAreRefusedAndLogged(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	var logs bytes.Buffer
	host := hosttest.CloudHost(a, a.Bus, azfunc.APIBasePath)
	host.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	srv := httptest.NewServer(&azfunc.Handler{Host: host})
	t.Cleanup(srv.Close)
	first := hosttest.FirstQueue(t, a)
	for _, message := range []any{12, "not base64 and not JSON!", []int{1, 2}} {
		body, _ := json.Marshal(map[string]any{"Data": map[string]any{azfunc.MessageBinding: message}, "Metadata": map[string]any{}})
		resp, err := http.Post(srv.URL+"/"+first, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Errorf("message %v answered %d", message, resp.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), `"msg":"invocation failed"`); n != 3 {
		t.Fatalf("%d failures logged, want 3:\n%s", n, logs.String())
	}
}

func TestMalformedMessagesGoToTheDeadLetterQueueWithTheirReason(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	host := newFunctionsHost(t, a)
	first := hosttest.FirstQueue(t, a)
	if err := a.Bus.Publish(context.Background(), bus.Outgoing{ID: "bad", Queue: first, Body: hosttest.InvalidOnboarding}); err != nil {
		t.Fatal(err)
	}
	if _, st, ok := host.deliver(first); !ok || st != 200 {
		t.Fatalf("%v %d", ok, st)
	}
	if rec := hosttest.DeadLetterOf(t, a); rec.Reason != "InvalidEvent" || !strings.Contains(rec.Description, "data.") || rec.Queue != first {
		t.Fatalf("dead letter %+v", rec)
	}
}

// The API through the httpTrigger: validation, the allow-list, idempotency
// and method checks answer as openapi.yaml says, and nothing is queued for a
// refused request.
func TestTheAPIRefusesWhatItMustThroughTheHTTPTrigger(t *testing.T) {
	sim := hosttest.StartSim(t)
	a := hosttest.Open(t, sim, func(c *app.Config) {
		c.Chain.Tenants, _ = onboarding.ParseTenants(graphsim.SampleSourceTenant+","+graphsim.SampleTargetTenant, "test")
	})
	host := newFunctionsHost(t, a)
	event := string(hosttest.OnboardingRequest(t))
	for _, tc := range []struct {
		name, method, path, contentType, body string
		status                                int
		says                                  string
	}{
		{"bad user", "POST", "/api/onboardings", "application/cloudevents+json", strings.Replace(event, graphsim.SampleUsers[0].ID, "adele@contoso.com", 1), 400, "data.users[0]"},
		{"tenant outside the allow-list", "POST", "/api/onboardings", "application/json", strings.Replace(event, graphsim.SampleSourceTenant, "4d1e0f2a-6b7c-4d8e-9f01-23456789abcd", -1), 403, "4d1e0f2a-6b7c-4d8e-9f01-23456789abcd"},
		{"text", "POST", "/api/onboardings", "text/plain", event, 415, "application/json"},
		{"oversized", "POST", "/api/onboardings", "application/json", `{"requestedBy":"` + strings.Repeat("a", api.MaxBody) + `"}`, 413, "256 KiB"},
		{"unknown onboarding", "GET", "/api/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64", "", "", 404, "no onboarding"},
		{"method", "PUT", "/api/onboardings", "application/json", "{}", 405, "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host.t = t
			status, _, body := host.api(tc.method, tc.path, tc.contentType, tc.body)
			if status != tc.status || !strings.Contains(string(body), tc.says) {
				t.Fatalf("%d %s", status, body)
			}
			if d, _ := a.Bus.Depth(context.Background()); d.Ready+d.Scheduled != 0 {
				t.Fatalf("a refused request queued %+v", d)
			}
		})
	}
	host.t = t
	// The same CloudEvent twice: one onboarding, the same answer.
	_, _, first := host.api("POST", "/api/onboardings", "application/cloudevents+json", event)
	status, _, second := host.api("POST", "/api/onboardings", "application/cloudevents+json", event)
	var one, two struct {
		OnboardingID string
		Existing     bool
	}
	_ = json.Unmarshal(first, &one)
	_ = json.Unmarshal(second, &two)
	if status != 202 || one.OnboardingID != two.OnboardingID || one.Existing || !two.Existing {
		t.Fatalf("the same event twice: %s / %s", first, second)
	}
	if d, _ := a.Bus.Depth(context.Background()); d.Ready != 1 {
		t.Fatalf("queued %+v for one event", d)
	}
	// A request binding that is not an HTTP request.
	_, out := host.invoke(azfunc.OnboardingsFunction, map[string]any{azfunc.RequestBinding: "nonsense"}, map[string]any{})
	if res := out["Outputs"].(map[string]any)[azfunc.ResponseBinding].(map[string]any); res["statusCode"] != "400" {
		t.Fatalf("%v", res)
	}
}

// api sends an HTTP request through the httpTrigger's binding, as the
// Functions host would, and checks the answer against openapi.yaml.
func (f *functionsHost) api(method, path, contentType, body string) (int, map[string]string, []byte) {
	f.t.Helper()
	headers := map[string][]string{}
	if contentType != "" {
		headers["Content-Type"] = []string{contentType}
	}
	st, out := f.invoke(azfunc.OnboardingsFunction, map[string]any{azfunc.RequestBinding: map[string]any{
		"Url": "https://ctsync.azurewebsites.net" + path, "Method": method, "Query": map[string]string{}, "Headers": headers,
		"Params": map[string]string{}, "Body": body}}, map[string]any{})
	if st != 200 {
		f.t.Fatalf("the handler answered %d: %v", st, out)
	}
	res := out["Outputs"].(map[string]any)[azfunc.ResponseBinding].(map[string]any)
	status, _ := strconv.Atoi(res["statusCode"].(string))
	header, h := map[string]string{}, http.Header{}
	for k, v := range res["headers"].(map[string]any) {
		header[k] = v.(string)
		h.Set(k, v.(string))
	}
	raw := []byte(res["body"].(string))
	apitest.Check(f.t, method, path, azfunc.APIBasePath, status, h, raw)
	return status, header, raw
}

func TestTheTimersHarvestAndCheckDriftAndTheHostProbeAnswers(t *testing.T) {
	host := newFunctionsHost(t, hosttest.Open(t, hosttest.StartSim(t)))
	st, out := host.invoke(azfunc.HarvestFunction, map[string]any{"timer": map[string]any{"IsPastDue": false}}, map[string]any{})
	if st != 200 || !strings.Contains(strings.Join(toStrings(out["Logs"]), " "), "harvested 0 configuration(s)") {
		t.Fatalf("%d %v", st, out)
	}
	st, out = host.invoke(azfunc.DriftFunction, map[string]any{"timer": map[string]any{"IsPastDue": false}}, map[string]any{})
	if st != 200 || !strings.Contains(strings.Join(toStrings(out["Logs"]), " "), "drift check: 0 pair(s)") {
		t.Fatalf("drift timer: %d %v", st, out)
	}
	resp, err := http.Get(host.handler.URL + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readiness: %v %v", resp, err)
	}
	if st, _ := host.invoke("no-such-function", map[string]any{}, map[string]any{}); st != 500 {
		t.Fatalf("unknown function answered %d", st)
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		out = append(out, s.(string))
	}
	return out
}

// The Bicep cannot be compiled here (no Bicep CLI is reachable); what it
// must say for the shared store and free scale-out is checked as text.
func TestTheBicepSharesTableStorageAndLimitsNoInstances(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "infra", "main.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	bicep := string(raw)
	for _, limit := range []string{"functionAppScaleLimit", "maximumElasticWorkerCount", "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "CTSYNC_STATE_DIR"} {
		if strings.Contains(bicep, limit) {
			t.Errorf("infra/main.bicep still sets %s", limit)
		}
	}
	for _, want := range []string{"'CTSYNC_STORE', value: 'tables'", "primaryEndpoints.table", "primaryEndpoints.blob",
		"tableServices/tables@", "blobServices/containers@",
		"'0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'", // Storage Table Data Contributor
		"'ba92f5b4-2d11-453d-a403-e96b0029c9fe'", // Storage Blob Data Contributor
		"scope: table", "scope: container"} {
		if !strings.Contains(bicep, want) {
			t.Errorf("infra/main.bicep lacks %s", want)
		}
	}
}
