package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ctsync/ctsync/events"
)

// Seeds in testdata/fuzz/<target>/ run with every `go test`; `make fuzz`
// (and .ci/run) fuzzes each target for a bounded time. A crasher the fuzzer
// finds is written there too and stays as a regression case.

func example(t testing.TB, typ string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "examples", typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzFunctionsInvocation: the custom handler's request — the envelope, the
// Service Bus trigger's value in any of its encodings, the metadata. Never
// a panic, and what is accepted as a body is a JSON object, the only thing
// the router parses.
func FuzzFunctionsInvocation(f *testing.F) {
	body := example(f, "onboarding.requested")
	asString, _ := json.Marshal(string(body))
	twice, _ := json.Marshal(string(asString))
	b64, _ := json.Marshal(base64.StdEncoding.EncodeToString(body))
	for _, value := range [][]byte{body, asString, twice, b64} {
		raw, _ := json.Marshal(map[string]any{"Data": map[string]json.RawMessage{"message": value},
			"Metadata": map[string]any{"MessageId": "m-1", "DeliveryCount": "2"}})
		f.Add(raw)
	}
	httpReq, _ := json.Marshal(map[string]any{"Data": map[string]any{"req": map[string]any{"Url": "https://ctsync.azurewebsites.net/api/onboardings",
		"Method": "POST", "Headers": map[string][]string{"Content-Type": {"application/json"}}, "Body": string(body)}}, "Metadata": map[string]any{}})
	f.Add(httpReq)
	f.Fuzz(func(t *testing.T, raw []byte) {
		inv, err := ReadFunctionsInvocation(bytes.NewReader(raw))
		if err != nil {
			return
		}
		if req, err := FunctionsHTTPRequest(inv.Data["req"]); err == nil {
			if req.Method == "" || !strings.HasPrefix(req.Path, "/") && req.Path != "" {
				t.Fatalf("an HTTP request without a method or with a relative path: %+v", req)
			}
			_ = req.Request()
		}
		m, err := inv.ServiceBusMessage("message", "ensure-target-partner", "invocation-1")
		if err != nil {
			return
		}
		if len(m.Body) == 0 || m.Body[0] != '{' {
			t.Fatalf("accepted a body that is not a JSON object: %q", m.Body)
		}
		if m.DeliveryCount < 1 || m.ID == "" || m.Queue != "ensure-target-partner" {
			t.Fatalf("message without a count, an id or its queue: %+v", m)
		}
	})
}

// FuzzLambdaPayload: what Lambda invokes the function with. Never a panic;
// an SQS batch maps each record to a step queue of the deployment or says
// why not.
func FuzzLambdaPayload(f *testing.F) {
	body := example(f, "onboarding.requested")
	batch, _ := json.Marshal(lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{
		MessageId: "sqs-1", ReceiptHandle: "rh", Body: string(body), EventSource: "aws:sqs",
		EventSourceARN:    "arn:aws:sqs:eu-west-1:123456789012:prod-ensure-target-partner",
		Attributes:        map[string]string{"ApproximateReceiveCount": "3", "SentTimestamp": "1764495000000"},
		MessageAttributes: map[string]lambdaevents.SQSMessageAttribute{IDAttribute: {StringValue: ptr("evt-1"), DataType: "String"}},
	}}})
	f.Add(batch)
	f.Add([]byte(`{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
	f.Add([]byte(`{"action":"harvest"}`))
	f.Add([]byte(`{"action":"drift"}`))
	f.Add(body)
	furl, _ := json.Marshal(lambdaevents.LambdaFunctionURLRequest{Version: "2.0", RawPath: "/onboardings", Body: base64.StdEncoding.EncodeToString(body),
		IsBase64Encoded: true, Headers: map[string]string{"content-type": "application/json"},
		RequestContext: lambdaevents.LambdaFunctionURLRequestContext{HTTP: lambdaevents.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/onboardings"}}})
	f.Add(furl)
	f.Fuzz(func(t *testing.T, payload []byte) {
		inv, err := ClassifyLambda(payload)
		if err != nil {
			return
		}
		if (inv.Kind == LambdaSQSBatch) != (inv.Batch != nil) || (inv.Kind == LambdaHTTP) != (inv.HTTP != nil) {
			t.Fatalf("kind %d with batch %v, http %v", inv.Kind, inv.Batch != nil, inv.HTTP != nil)
		}
		if inv.HTTP != nil && (inv.HTTP.Method == "" || !strings.HasPrefix(inv.HTTP.Path, "/")) {
			t.Fatalf("an HTTP request without a method or a path: %+v", inv.HTTP)
		}
		if inv.Batch == nil {
			return
		}
		for _, r := range inv.Batch.Records {
			m, _, err := SQSMessage(r, "prod-", func(q string) bool { return q == "ensure-target-partner" })
			if err != nil {
				continue
			}
			if m.Queue != "ensure-target-partner" || m.DeliveryCount < 1 {
				t.Fatalf("record mapped to %+v", m)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

// FuzzIntakeBody: the body POST /onboardings receives, a CloudEvent or the
// plain fields. Never a panic; what is accepted is an onboarding.requested
// event whose data holds valid tenant and principal ids, it survives a round
// trip, and a request naming its onboardingId is idempotent (same key, same
// event id).
func FuzzIntakeBody(f *testing.F) {
	f.Add("application/cloudevents+json", example(f, "onboarding.requested"))
	f.Add("application/json", example(f, "step.failed"))
	f.Add("application/json", []byte(`{"sourceTenantId":"0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11","targetTenantId":"9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55",`+
		`"configurationName":"Contoso to Fabrikam","users":["61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10"],"onboardingId":"3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64"}`))
	f.Add("application/json", []byte(`{"sourceTenantId":1,"users":{},"colour":"red"}`))
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, mediaType string, body []byte) {
		sub, err := OnboardingSubmission(mediaType, body, now)
		if err != nil {
			var ve *events.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" {
				t.Fatalf("a refusal that names no field: %v", err)
			}
			return
		}
		ev := sub.Event
		in, ok := events.OnboardingOf(ev)
		if !ok || ev.Type != events.OnboardingRequested {
			t.Fatalf("accepted %s without onboarding data", ev.Type)
		}
		if !events.IsGUID(in.SourceTenantID) || !events.IsGUID(in.TargetTenantID) || !events.IsGUID(in.OnboardingID) || len(in.Users) == 0 {
			t.Fatalf("accepted an onboarding without valid ids: %+v", in)
		}
		for _, u := range append(append([]string(nil), in.Users...), in.Groups...) {
			if !events.IsGUID(u) {
				t.Fatalf("accepted principal %q", u)
			}
		}
		raw, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OnboardingRequest(raw); err != nil {
			t.Fatalf("an accepted event does not parse again: %v\n%s", err, raw)
		}
		if sub.Key != "" {
			again, err := OnboardingSubmission(mediaType, body, now.Add(time.Hour))
			if err != nil || again.Key != sub.Key || again.Event.ID != ev.ID {
				t.Fatalf("the same request twice: %v, key %q/%q, id %q/%q", err, sub.Key, again.Key, ev.ID, again.Event.ID)
			}
		}
	})
}

// FuzzNextLink: a provisioning logs page's @odata.nextLink, which comes
// from the server's answer. Never a panic; an accepted link goes to the
// Graph endpoint's host and scheme, to the provisioning logs, and nowhere
// else.
func FuzzNextLink(f *testing.F) {
	const endpoint = "https://graph.microsoft.com"
	f.Add(endpoint, "https://graph.microsoft.com/beta/auditLogs/provisioning?$top=500&$skiptoken=abc")
	f.Add(endpoint, "https://evil.example/beta/auditLogs/provisioning?$skiptoken=abc")
	f.Add(endpoint, "https://graph.microsoft.com@evil.example/beta/auditLogs/provisioning")
	f.Add(endpoint, "http://graph.microsoft.com/beta/auditLogs/provisioning")
	f.Add(endpoint, "https://graph.microsoft.com/beta/users?$top=999")
	f.Add("https://127.0.0.1:8443", "https://127.0.0.1:8443/v1.0/auditLogs/provisioning?$skiptoken=x")
	f.Fuzz(func(t *testing.T, graphEndpoint, next string) {
		if CheckNextLink(graphEndpoint, next) != nil {
			return
		}
		base, _ := url.Parse(graphEndpoint)
		u, err := url.Parse(next)
		if err != nil {
			t.Fatalf("accepted an unparseable link %q", next)
		}
		if !strings.EqualFold(u.Host, base.Host) || !strings.EqualFold(u.Scheme, base.Scheme) || u.User != nil {
			t.Fatalf("accepted %q for endpoint %q", next, graphEndpoint)
		}
		if !strings.HasSuffix(u.Path, "/auditLogs/provisioning") {
			t.Fatalf("accepted a link to %q", u.Path)
		}
	})
}
