package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ctsync/ctsync/pkg/bus/sqs"
	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/host/cloud"
	"github.com/ctsync/ctsync/pkg/store"
)

// The Lambda deployment end to end, with nothing played by a harness but
// the event source mapping: the `bootstrap` build (-tags lambda.norpc) runs
// under AWS's Runtime Interface Emulator, which starts it and feeds it
// through the real Lambda Runtime API; SQS, DynamoDB and S3 are moto; Graph is
// the emulator. An intake invocation queues an onboarding; the steps run from
// SQS batches (ctsync's mapping invokes the function through the RIE's
// invocation endpoint); the monitor follows the job to sync.steady; a
// scheduled invocation harvests the provisioning logs into S3.
func TestTheLambdaFunctionUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	moto := emulators.StartMoto(t)
	moto.Apply(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}

	sim, graphEnv := simulator(t, graphsim.Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 300 * time.Millisecond,
		CycleInterval: time.Second, InitialCycleDelay: 300 * time.Millisecond})

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	prefix, table, bucket := "rie"+suffix+"-", "rie-"+suffix, "rie-"+suffix
	sqsClient := createQueues(ctx, t, awsCfg, prefix)
	if err := createTable(ctx, awsCfg, table); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket,
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(moto.Region)}}); err != nil {
		t.Fatal(err)
	}
	env := append(append(moto.Env(), graphEnv...), "HOME="+t.TempDir(), "PATH="+os.Getenv("PATH"),
		"CTSYNC_QUEUE_PREFIX="+prefix, "CTSYNC_STORE=dynamodb", "CTSYNC_DYNAMODB_TABLE="+table, "CTSYNC_S3_BUCKET="+bucket,
		"CTSYNC_REPLICATION_POLL=200ms", "CTSYNC_MONITOR_INTERVAL=1s", "CTSYNC_RETRY_BASE_DELAY=200ms", "CTSYNC_RETRY_MAX_DELAY=1s",
		"CTSYNC_MAX_ATTEMPTS=30", "CTSYNC_LOG_LEVEL=warn")
	rie := emulators.StartRIE(t, bootstrap, env)

	// One instance handles one invocation at a time (the RIE refuses a
	// second with 400), as a Lambda instance does.
	var mu sync.Mutex
	invocations := 0
	invoke := func(ctx context.Context, payload []byte) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		invocations++
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rie.InvokeURL, bytes.NewReader(payload))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("RIE answered %d: %s", resp.StatusCode, body)
		}
		return body, err
	}

	request, err := os.ReadFile(filepath.Join("..", "events", "examples", "onboarding.requested.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	_ = json.Unmarshal(request, &ev)
	ev["data"].(map[string]any)["users"] = []string{graphsim.SampleUsers[0].ID, graphsim.SampleUsers[1].ID}
	ev["data"].(map[string]any)["groups"] = []string{graphsim.SampleGroup}
	request, _ = json.Marshal(ev)
	answer, err := invoke(ctx, request)
	var accepted cloud.Accepted
	if err != nil || json.Unmarshal(answer, &accepted) != nil || accepted.OnboardingID == "" {
		t.Fatalf("intake invocation: %s %v", answer, err)
	}

	esm := &sqs.EventSourceMapping{Client: sqsClient, Prefix: prefix, Queues: stepQueues(), Invoke: invoke, BatchSize: 5,
		Visibility: 30 * time.Second, WaitTime: 2 * time.Second, Region: moto.Region}
	esmCtx, stopESM := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = esm.Run(esmCtx) }()
	defer func() { stopESM(); <-done }()

	st := openShared(t, env).store
	var o store.Onboarding
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if o, _, err = st.GetOnboarding(ctx, accepted.OnboardingID); err == nil && o.State == store.StateCompleted && o.SyncState == store.SyncSteady {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("onboarding %s %s at %s (%s), sync %q; %d invocations", accepted.OnboardingID, o.State, o.Step, o.Detail, o.SyncState, invocations)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if o.LastEvent != "sync.steady" || !strings.HasPrefix(o.JobStatus, "Active") {
		t.Fatalf("the monitor did not follow the job to steady state: %+v", o)
	}
	src := sim.Tenant(graphsim.SampleSourceTenant)
	if len(src.ServicePrincipals) != 1 || len(src.ServicePrincipals[0].Jobs) != 1 || len(src.ServicePrincipals[0].Assignments) != 3 {
		t.Fatalf("source tenant %+v", src.ServicePrincipals)
	}

	// The schedule's harvest, as EventBridge invokes it.
	scheduled := []byte(`{"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012",` +
		`"time":"2026-11-30T09:00:00Z","region":"eu-west-1","resources":[],"detail":{}}`)
	answer, err = invoke(ctx, scheduled)
	var report cloud.HarvestReport
	if err != nil || json.Unmarshal(answer, &report) != nil || report.Configurations != 1 || report.Delivered == 0 || len(report.Errors) > 0 {
		t.Fatalf("scheduled harvest: %s %v", answer, err)
	}
	if got := collected(t, ctx, openShared(t, env).objects); len(got) != report.Delivered {
		t.Fatalf("S3 holds %d records, the harvest delivered %d", len(got), report.Delivered)
	}
}
