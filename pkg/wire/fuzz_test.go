package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	f.Fuzz(func(t *testing.T, raw []byte) {
		inv, err := ReadFunctionsInvocation(bytes.NewReader(raw))
		if err != nil {
			return
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
	f.Add(body)
	f.Fuzz(func(t *testing.T, payload []byte) {
		kind, sqs, err := ClassifyLambda(payload)
		if err != nil {
			return
		}
		if (kind == LambdaSQSBatch) != (sqs != nil) {
			t.Fatalf("kind %d with batch %v", kind, sqs != nil)
		}
		if sqs == nil {
			return
		}
		for _, r := range sqs.Records {
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

// FuzzIntakeBody: the body automation posts to start an onboarding. Never a
// panic; what is accepted is an onboarding.requested event whose data holds
// valid tenant and principal ids, and it survives a round trip.
func FuzzIntakeBody(f *testing.F) {
	f.Add(example(f, "onboarding.requested"))
	f.Add(example(f, "step.failed"))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := OnboardingRequest(body)
		if err != nil {
			return
		}
		in, ok := events.OnboardingOf(ev)
		if !ok || ev.Type != events.OnboardingRequested {
			t.Fatalf("accepted %s without onboarding data", ev.Type)
		}
		if !events.IsGUID(in.SourceTenantID) || !events.IsGUID(in.TargetTenantID) || len(in.Users) == 0 {
			t.Fatalf("accepted an onboarding without valid tenants or users: %+v", in)
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
