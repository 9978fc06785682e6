package awslambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/api/apitest"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/bus/sqs"
	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/host/awslambda"
	"github.com/ctsync/ctsync/pkg/host/cloud"
	"github.com/ctsync/ctsync/pkg/host/hosttest"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store/dynamostore"
)

const prefix = "ctsync-test-"

// lambdaService plays Lambda with an SQS event source mapping: it takes
// messages from the queues (the embedded queue stands in for SQS), invokes
// the function through aws-lambda-go's own handler with SQS batches, deletes
// the records the function handled and leaves the failed ones to come back.
type lambdaService struct {
	t       *testing.T
	queue   *bus.Embedded
	handler lambda.Handler
	fn      *awslambda.Handler
}

func newLambdaService(t *testing.T, a *app.Local, out bus.Publisher) *lambdaService {
	t.Helper()
	fn := &awslambda.Handler{Host: hosttest.CloudHost(a, out, ""), QueuePrefix: prefix}
	return &lambdaService{t: t, queue: a.Bus, handler: lambda.NewHandler(fn.Invoke), fn: fn}
}

func (l *lambdaService) invoke(ctx context.Context, payload any) ([]byte, error) {
	l.t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		l.t.Fatal(err)
	}
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: strconv.FormatInt(time.Now().UnixNano(), 10)})
	return l.handler.Invoke(ctx, raw)
}

// record is the SQS record Lambda would pass for d.
func record(d bus.Delivery) map[string]any {
	return map[string]any{
		"messageId": "sqs-" + d.LockToken, "receiptHandle": d.LockToken, "body": string(d.Body),
		"attributes": map[string]string{"ApproximateReceiveCount": strconv.Itoa(d.DeliveryCount),
			"SentTimestamp": strconv.FormatInt(d.EnqueuedAt.UnixMilli(), 10)},
		"messageAttributes": map[string]any{sqs.IDAttribute: map[string]any{"stringValue": d.ID, "dataType": "String"}},
		"eventSource":       "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:" + prefix + d.Queue, "awsRegion": "eu-west-1",
	}
}

// deliver passes up to max due messages as one batch. It returns them and the
// ones the function asked to get again; none when nothing is due.
func (l *lambdaService) deliver(max int, queues ...string) (batch []bus.Delivery, failed []bus.Delivery) {
	l.t.Helper()
	ds, err := l.queue.Receive(context.Background(), queues, max, time.Minute)
	if err != nil {
		l.t.Fatal(err)
	}
	if len(ds) == 0 {
		return nil, nil
	}
	var records []map[string]any
	for _, d := range ds {
		records = append(records, record(d))
	}
	out, err := l.invoke(context.Background(), map[string]any{"Records": records})
	if err != nil {
		l.t.Fatalf("the function failed the whole batch: %v", err)
	}
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		l.t.Fatalf("answer %s: %v", out, err)
	}
	again := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		again[f.ItemIdentifier] = true
	}
	for _, d := range ds {
		if again["sqs-"+d.LockToken] {
			failed = append(failed, d)
			if err := l.queue.Abandon(context.Background(), d); err != nil {
				l.t.Fatal(err)
			}
		} else if err := l.queue.Ack(context.Background(), d); err != nil {
			l.t.Fatal(err)
		}
	}
	return ds, failed
}

func TestAnOnboardingRunsThroughTheLambdaFunction(t *testing.T) {
	sim := hosttest.StartSim(t)
	a := hosttest.Open(t, sim)
	svc := newLambdaService(t, a, a.Bus)
	out, err := svc.invoke(context.Background(), json.RawMessage(hosttest.OnboardingRequest(t)))
	if err != nil {
		t.Fatal(err)
	}
	var accepted cloud.Accepted
	if err := json.Unmarshal(out, &accepted); err != nil || accepted.OnboardingID == "" {
		t.Fatalf("intake answered %s: %v", out, err)
	}
	hosttest.RunToCompletion(t, a, accepted.OnboardingID, func() bool {
		batch, failed := svc.deliver(3)
		if len(failed) > 0 {
			t.Fatalf("the function asked for %d record(s) again", len(failed))
		}
		return len(batch) > 0
	})
	hosttest.AssertSyncRunning(t, sim)
}

// The API through a function URL: an onboarding posted as the plain fields
// runs to completion and its status is read back; refusals answer as
// openapi.yaml says and queue nothing.
func TestTheAPIThroughAFunctionURL(t *testing.T) {
	sim := hosttest.StartSim(t)
	a := hosttest.Open(t, sim, func(c *app.Config) {
		c.Chain.Tenants, _ = onboarding.ParseTenants(graphsim.SampleSourceTenant+" "+graphsim.SampleTargetTenant, "test")
	})
	svc := newLambdaService(t, a, a.Bus)
	plain := `{"sourceTenantId":"` + graphsim.SampleSourceTenant + `","targetTenantId":"` + graphsim.SampleTargetTenant +
		`","configurationName":"Contoso to Fabrikam","users":["` + graphsim.SampleUsers[0].ID + `"],"onboardingId":"3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64"}`
	for _, tc := range []struct {
		name, body string
		base64     bool
		status     int
	}{
		{"outside the allow-list", strings.Replace(plain, graphsim.SampleTargetTenant, "4d1e0f2a-6b7c-4d8e-9f01-23456789abcd", 1), false, 403},
		{"malformed", `{"users":`, false, 400},
		{"not base64", "%%%", true, 0},
	} {
		status, _, body, err := svc.url(tc.name, "POST", "/onboardings", "application/json", tc.body, tc.base64)
		if (tc.status == 0) != (err != nil) || status != tc.status {
			t.Fatalf("%s: %d %s %v", tc.name, status, body, err)
		}
	}
	if d, _ := a.Bus.Depth(context.Background()); d.Ready != 0 {
		t.Fatalf("refused requests queued %+v", d)
	}
	status, header, body, err := svc.url("post", "POST", "/onboardings", "application/json", plain, true)
	if err != nil || status != 202 || header["Location"] != "/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64" {
		t.Fatalf("POST: %d %v %s %v", status, header, body, err)
	}
	hosttest.RunToCompletion(t, a, "3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64", func() bool {
		batch, failed := svc.deliver(3)
		if len(failed) > 0 {
			t.Fatalf("the function asked for %d record(s) again", len(failed))
		}
		return len(batch) > 0
	})
	status, _, body, _ = svc.url("get", "GET", header["Location"], "", "", false)
	var got struct{ Onboarding struct{ State string } }
	if json.Unmarshal(body, &got) != nil || status != 200 || got.Onboarding.State != "completed" {
		t.Fatalf("GET: %d %s", status, body)
	}
	if status, _, body, _ := svc.url("again", "POST", "/onboardings", "application/json", plain, false); status != 202 || !strings.Contains(string(body), `"existing":true`) {
		t.Fatalf("the same request again: %d %s", status, body)
	}
}

// url invokes the function with a function URL event (payload format 2.0)
// and checks the answer against openapi.yaml.
func (l *lambdaService) url(name, method, path, contentType, body string, b64 bool) (int, map[string]string, []byte, error) {
	l.t.Helper()
	ev := map[string]any{"version": "2.0", "rawPath": path, "rawQueryString": "", "headers": map[string]string{"content-type": contentType},
		"requestContext": map[string]any{"http": map[string]any{"method": method, "path": path}, "requestId": name},
		"body":           body, "isBase64Encoded": b64}
	if b64 && body != "%%%" {
		ev["body"] = base64.StdEncoding.EncodeToString([]byte(body))
	}
	out, err := l.invoke(context.Background(), ev)
	if err != nil {
		return 0, nil, nil, err
	}
	var resp struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		l.t.Fatalf("%s: %s", out, err)
	}
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	apitest.Check(l.t, method, path, "", resp.StatusCode, h, []byte(resp.Body))
	return resp.StatusCode, resp.Headers, []byte(resp.Body), nil
}

func TestATransientFailureBecomesADelayedCopyCarryingItsAttempts(t *testing.T) {
	sim := hosttest.StartSim(t)
	a := hosttest.Open(t, sim)
	svc := newLambdaService(t, a, a.Bus)
	sim.Inject(graphsim.Fault{Method: "POST", PathContains: "/partners", Times: 100, Status: 503})
	if _, err := svc.invoke(context.Background(), json.RawMessage(hosttest.OnboardingRequest(t))); err != nil {
		t.Fatal(err)
	}
	first, failed := svc.deliver(1, hosttest.FirstQueue(t, a))
	if len(first) != 1 || len(failed) != 0 {
		t.Fatalf("first delivery: %d record(s), %d failed", len(first), len(failed))
	}
	time.Sleep(200 * time.Millisecond)
	copies, _ := svc.deliver(1, hosttest.FirstQueue(t, a))
	if len(copies) != 1 || copies[0].ID != events.DeriveID(first[0].ID, "requeue", 0) || !strings.Contains(string(copies[0].Body), `"ctsyncattempts":1`) {
		t.Fatalf("the retry copy did not arrive as such: %+v", copies)
	}
	_, stepsSeen, _ := a.Store.GetOnboarding(context.Background(), hosttest.OnboardingID(t, hosttest.OnboardingRequest(t)))
	if len(stepsSeen) != 1 || stepsSeen[0].Attempts != 2 {
		t.Fatalf("the copy was not counted as the second attempt: %+v", stepsSeen)
	}
}

func TestMalformedRecordsGoToTheDeadLetterQueueAndAreHandled(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	svc := newLambdaService(t, a, a.Bus)
	first := hosttest.FirstQueue(t, a)
	if err := a.Bus.Publish(context.Background(), bus.Outgoing{ID: "bad", Queue: first, Body: hosttest.InvalidOnboarding}); err != nil {
		t.Fatal(err)
	}
	if batch, failed := svc.deliver(1, first); len(batch) != 1 || len(failed) != 0 {
		t.Fatalf("a dead-lettered record is handled: %d record(s), %d failed", len(batch), len(failed))
	}
	if rec := hosttest.DeadLetterOf(t, a); rec.Reason != "InvalidEvent" || !strings.Contains(rec.Description, "data.") || rec.Queue != first {
		t.Fatalf("dead letter %+v", rec)
	}
}

// failingPublisher is an SQS that refuses every message.
type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, ...bus.Outgoing) error {
	return errors.New("AWS.SimpleQueueService.NonExistentQueue")
}

func TestRecordsComeBackWhenTheirOutcomeCannotBePublished(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	svc := newLambdaService(t, a, failingPublisher{})
	if _, err := a.Intake.Accept(context.Background(), hosttest.Parse(t, hosttest.OnboardingRequest(t))); err != nil {
		t.Fatal(err)
	}
	if err := a.Bus.Publish(context.Background(), bus.Outgoing{ID: "bad", Queue: hosttest.FirstQueue(t, a), Body: []byte(`not json`)}); err != nil {
		t.Fatal(err)
	}
	batch, failed := svc.deliver(10, hosttest.FirstQueue(t, a))
	if len(batch) != 2 || len(failed) != 2 {
		t.Fatalf("%d record(s), %d asked for again; want both again", len(batch), len(failed))
	}
}

func TestRecordsFromOtherQueuesAndNearTheDeadlineComeBack(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	svc := newLambdaService(t, a, a.Bus)
	d := bus.Delivery{ID: "evt", Queue: "someone-elses-queue", Body: hosttest.OnboardingRequest(t), DeliveryCount: 1, LockToken: "t1", EnqueuedAt: time.Now()}
	out, err := svc.invoke(context.Background(), map[string]any{"Records": []any{record(d)}})
	if err != nil || !strings.Contains(string(out), `"itemIdentifier":"sqs-t1"`) {
		t.Fatalf("a record from an unknown queue: %s %v", out, err)
	}

	d.Queue = hosttest.FirstQueue(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out, err = svc.invoke(ctx, map[string]any{"Records": []any{record(d)}})
	if err != nil || !strings.Contains(string(out), `"itemIdentifier":"sqs-t1"`) {
		t.Fatalf("a record with 1s left of a 30s margin: %s %v", out, err)
	}
	if _, started, _ := a.Store.GetOnboarding(context.Background(), hosttest.OnboardingID(t, hosttest.OnboardingRequest(t))); len(started) != 0 {
		t.Fatalf("a record handed back near the deadline was started anyway (%d step(s) recorded)", len(started))
	}
}

func TestSchedulesHarvestAndCheckDriftAndDirectInvocationsAreValidated(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	svc := newLambdaService(t, a, a.Bus)
	out, err := svc.invoke(context.Background(), map[string]any{"version": "0", "id": "e1", "detail-type": "Scheduled Event",
		"source": "aws.events", "account": "123456789012", "time": "2026-11-23T02:00:00Z", "region": "eu-west-1", "detail": map[string]any{}})
	var res cloud.HarvestReport
	if err != nil || json.Unmarshal(out, &res) != nil || res.Configurations != 0 || res.Errors != nil {
		t.Fatalf("scheduled harvest: %s %v", out, err)
	}
	// The drift schedule's input.
	out, err = svc.invoke(context.Background(), map[string]any{"action": "drift"})
	var drift cloud.DriftReport
	if err != nil || json.Unmarshal(out, &drift) != nil || drift.Pairs != 0 || drift.Errors != nil {
		t.Fatalf("scheduled drift check: %s %v", out, err)
	}
	body := strings.Replace(string(hosttest.OnboardingRequest(t)), graphsim.SampleUsers[0].ID, "adele@contoso.com", 1)
	if _, err := svc.invoke(context.Background(), json.RawMessage(body)); err == nil || !strings.Contains(err.Error(), "data.users[0]") {
		t.Fatalf("an invalid onboarding request: %v", err)
	}
	if _, err := svc.invoke(context.Background(), map[string]any{"hello": "world"}); err == nil || !strings.Contains(err.Error(), "unrecognized invocation") {
		t.Fatalf("an unknown payload: %v", err)
	}
}

var update = flag.Bool("update", false, "rewrite infra/aws/template.json from the chain table")

func TestTheSAMTemplateMatchesTheChainTable(t *testing.T) {
	a := hosttest.Open(t, hosttest.StartSim(t))
	want := awslambda.Template(a.Table)
	path := filepath.Join("..", "..", "..", "infra", "aws", "template.json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(want) {
		t.Fatalf("%s drifted from the chain table (run `make functions`): %v", path, err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(want, &tmpl); err != nil {
		t.Fatal(err)
	}
	fn := tmpl.Resources["Function"].Properties
	if fn["Timeout"].(float64)*6 > float64(awslambda.VisibilityTimeoutSeconds) {
		t.Fatal("SQS asks for a visibility timeout of at least six times the function timeout")
	}
	if _, limited := fn["ReservedConcurrentExecutions"]; limited || strings.Contains(string(want), "FileSystemConfigs") {
		t.Fatal("the function must scale out: no reserved concurrency, no shared file system")
	}
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	if vars["CTSYNC_STORE"] != "dynamodb" || vars["CTSYNC_DYNAMODB_TABLE"] == nil || vars["CTSYNC_S3_BUCKET"] == nil {
		t.Fatalf("the function is not pointed at the shared store: %v", vars)
	}
	table := tmpl.Resources["StateTable"]
	if table.Type != "AWS::DynamoDB::Table" || fmt.Sprint(table.Properties["TimeToLiveSpecification"]) != "map[AttributeName:"+dynamostore.TTLAttribute+" Enabled:true]" {
		t.Fatalf("state table %+v", table)
	}
	if tmpl.Resources["RecordsBucket"].Type != "AWS::S3::Bucket" {
		t.Fatal("no records bucket")
	}
	triggers := fn["Events"].(map[string]any)
	for _, q := range a.Table.Queues() {
		found := false
		for id, r := range tmpl.Resources {
			if r.Type != "AWS::SQS::Queue" || r.Properties["QueueName"].(map[string]any)["Fn::Sub"] != "${QueuePrefix}"+q {
				continue
			}
			found = true
			trigger, ok := triggers[strings.TrimSuffix(id, "Queue")].(map[string]any)
			if !ok || trigger["Type"] != "SQS" || !strings.Contains(fmt.Sprint(trigger["Properties"]), "ReportBatchItemFailures") {
				t.Errorf("queue %s has no SQS trigger reporting partial batch failures: %v", q, trigger)
			}
		}
		if !found {
			t.Errorf("no queue for step %s", q)
		}
	}
}

// The real cfn-lint (with its SAM support) passes the template, with no
// rule suppressed; and it does catch a broken copy, so a pass means
// something.
func TestTheSAMTemplatePassesCfnLint(t *testing.T) {
	path := filepath.Join("..", "..", "..", "infra", "aws", "template.json")
	if out, code := emulators.CfnLint(t, path); code != 0 {
		t.Fatalf("cfn-lint %s: exit %d\n%s", path, code, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "template.json")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(raw), `"PAY_PER_REQUEST"`, `"FREE"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := emulators.CfnLint(t, broken); code == 0 || !strings.Contains(out, "FREE") {
		t.Fatalf("cfn-lint passed a template with an invalid BillingMode: exit %d\n%s", code, out)
	}
}

func TestMain(m *testing.M) { os.Exit(emulators.Main(m)) }
