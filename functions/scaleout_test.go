package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ctsync/ctsync/pkg/bus/sqs"
	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
	"github.com/ctsync/ctsync/pkg/store/dynamostore"
)

// The cloud hosts scale out on the clouds' own engines. Four host processes
// (the Lambda handler, fed from moto's SQS as Lambda's event source mapping
// would feed it, every batch delivered twice) share one store — Table
// Storage on Azurite in one run, DynamoDB on moto in the other. One of them
// is killed with SIGKILL mid-run. Fifty onboardings must all complete with
// exactly one configuration app, one job and one assignment per principal
// each; the four harvest every second on the shared lease, and every
// provisioning record reaches the blob or S3 sink exactly once. No process
// opens a SQLite file.
func TestFourHostsShareOneStoreAndScaleOut(t *testing.T) {
	for _, backend := range []string{storeTables, storeDynamoDB} {
		t.Run(backend, func(t *testing.T) { scaleOut(t, backend, 50) })
	}
}

func scaleOut(t *testing.T, backend string, n int) {
	moto := emulators.StartMoto(t)
	moto.Apply(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	sim, graphEnv := emptySimulator(t, graphsim.Options{AppReplicationDelay: 200 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond,
		CycleInterval: 2 * time.Second, InitialCycleDelay: 500 * time.Millisecond})
	pairs := sim.AddTenantPairs(n)

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	prefix := "scale" + suffix + "-"
	sqsClient := createQueues(ctx, t, awsCfg, prefix)

	env := append(append(moto.Env(), graphEnv...),
		"CTSYNC_QUEUE_PREFIX="+prefix,
		"CTSYNC_REPLICATION_WINDOW=60s", "CTSYNC_REPLICATION_POLL=200ms", "CTSYNC_MONITOR_INTERVAL=1h",
		"CTSYNC_RETRY_BASE_DELAY=200ms", "CTSYNC_RETRY_MAX_DELAY=2s", "CTSYNC_MAX_ATTEMPTS=60",
		"CTSYNC_HARVEST_LEASE=3s", "CTSYNC_HARVEST_OVERLAP=1m", "CTSYNC_LOG_LEVEL=warn")
	switch backend {
	case storeTables:
		az := emulators.StartAzurite(t)
		env = append(env, "CTSYNC_STORE=tables", "CTSYNC_STORAGE_CONNECTION_STRING="+az.ConnectionString,
			"CTSYNC_TABLE=scale"+suffix, "CTSYNC_BLOB_CONTAINER=records"+suffix)
	case storeDynamoDB:
		table, bucket := "scale-"+suffix, "records-"+suffix
		if err := createTable(ctx, awsCfg, table); err != nil {
			t.Fatal(err)
		}
		if _, err := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket,
			CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(moto.Region)}}); err != nil {
			t.Fatal(err)
		}
		env = append(env, "CTSYNC_STORE=dynamodb", "CTSYNC_DYNAMODB_TABLE="+table, "CTSYNC_S3_BUCKET="+bucket)
	}
	shared := openShared(t, env)

	// Four hosts. Each would create the state directory if it opened SQLite.
	stateDir := filepath.Join(t.TempDir(), "state")
	var hosts []*exec.Cmd
	var logs []*bytes.Buffer
	for i := range 4 {
		cmd := exec.Command(binary, "sqs-consume", "--duplicate", "--batch-size", "5", "--visibility", "5s", "--harvest-interval", "5s")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "CTSYNC_STATE_DIR=" + stateDir}, env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		hosts, logs = append(hosts, cmd), append(logs, &out)
		_ = i
	}
	dump := func() string {
		var b strings.Builder
		for i, l := range logs {
			fmt.Fprintf(&b, "--- host %d\n%s\n", i, tail(l.String(), 3000))
		}
		return b.String()
	}

	table, err := onboarding.Table(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	intake := onboarding.Intake{Table: table, Queue: sqs.New(sqsClient, prefix), Progress: shared.store}
	submit := func(i int, p graphsim.Pair) {
		if _, err := intake.Submit(ctx, onboarding.Request{SourceTenantID: p.Source, TargetTenantID: p.Target,
			Name: fmt.Sprintf("Pair %d", i), Users: p.Users, Groups: []string{p.Group}, RequestedBy: "scale-out test"}); err != nil {
			t.Fatal(err)
		}
	}
	// A fifth of the onboardings, then a host killed while it works on
	// them (the batches it held come back after their visibility timeout),
	// then the rest.
	for i, p := range pairs[:n/5] {
		submit(i, p)
	}
	time.Sleep(time.Second)
	if err := hosts[1].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i, p := range pairs[n/5:] {
		submit(n/5+i, p)
	}

	deadline := time.Now().Add(5 * time.Minute)
	for {
		list, err := shared.store.ListOnboardings(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		var unfinished []string
		for _, o := range list {
			switch o.State {
			case store.StateCompleted:
				done++
			case store.StateFailed:
				t.Fatalf("onboarding %s failed at %s: %s\n%s", o.Name, o.Step, o.Detail, dump())
			default:
				unfinished = append(unfinished, fmt.Sprintf("%s %s at %s (%s)", o.Name, o.State, o.Step, o.Detail))
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d onboardings completed; still running:\n%s\n%s", done, n, strings.Join(unfinished[:min(10, len(unfinished))], "\n"), dump())
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Exactly one of everything per pair.
	var sps []struct{ tenant, sp string }
	for i, p := range pairs {
		src := sim.Tenant(p.Source)
		if len(src.ServicePrincipals) != 1 {
			t.Fatalf("pair %d has %d configuration apps", i, len(src.ServicePrincipals))
		}
		sp := src.ServicePrincipals[0]
		if len(sp.Jobs) != 1 || sp.Jobs[0].ScheduleState != "Active" {
			t.Fatalf("pair %d has jobs %+v", i, sp.Jobs)
		}
		seen := map[string]int{}
		for _, a := range sp.Assignments {
			seen[a.PrincipalID]++
		}
		for _, principal := range append(append([]string(nil), p.Users...), p.Group) {
			if seen[principal] != 1 {
				t.Fatalf("pair %d: principal %s assigned %d times", i, principal, seen[principal])
			}
		}
		if len(sp.Assignments) != 3 {
			t.Fatalf("pair %d has %d assignments", i, len(sp.Assignments))
		}
		sps = append(sps, struct{ tenant, sp string }{p.Source, sp.ID})
	}

	// Every provisioning record, once. The jobs stop cycling so the logs
	// stop growing; the hosts keep harvesting until they have it all.
	time.Sleep(3 * time.Second) // let every job run a cycle or two
	sim.PauseCycles()
	want := map[string]bool{}
	for _, c := range sps {
		for _, id := range sim.ProvisioningRecordIDs(c.tenant, c.sp) {
			want[id] = true
		}
	}
	if len(want) < n {
		t.Fatalf("only %d provisioning records for %d pairs; the test needs the jobs to have run", len(want), n)
	}
	var got map[string]int
	for deadline := time.Now().Add(2 * time.Minute); ; {
		got = collected(t, ctx, shared.objects)
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, cmd := range hosts {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("record %s reached the sink %d times", id, got[id])
		}
	}
	for id, count := range got {
		if !want[id] {
			t.Errorf("record %s in the sink is not one the emulator has (%d times)", id, count)
		}
	}
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Errorf("a cloud host created the state directory %s (it must open no SQLite file): %v", stateDir, err)
	}
	if t.Failed() {
		t.Log(dump())
	}
}

// openShared opens, in the test, the store the hosts share, through the
// same settings.
func openShared(t *testing.T, env []string) *sharedState {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	e := &environment{getenv: func(k string) string { return vars[k] }}
	kind, err := e.storeKind("")
	if err != nil {
		t.Fatal(err)
	}
	shared, err := e.openSharedState(context.Background(), kind)
	if err != nil {
		t.Fatal(err)
	}
	return shared
}

// collected counts each record id in the sink's objects.
func collected(t *testing.T, ctx context.Context, objects harvest.Objects) map[string]int {
	t.Helper()
	names, err := objects.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, name := range names {
		body, err := objects.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var rec struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("%s holds a line that is not a record: %q", name, sc.Text())
			}
			counts[rec.ID]++
		}
	}
	return counts
}

func createTable(ctx context.Context, cfg aws.Config, name string) error {
	return dynamostore.CreateTable(ctx, dynamodb.NewFromConfig(cfg), name)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// createQueues creates the deployment's SQS queues under prefix.
func createQueues(ctx context.Context, t *testing.T, cfg aws.Config, prefix string) *awssqs.Client {
	t.Helper()
	client := awssqs.NewFromConfig(cfg)
	for _, q := range queueNames() {
		if _, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(prefix + q)}); err != nil {
			t.Fatal(err)
		}
	}
	return client
}
