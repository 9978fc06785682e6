package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/store"
)

// awsDeployment creates, on moto, what a ctsync deployment on AWS has (its
// step queues, its DynamoDB table and S3 bucket) and returns the settings
// that reach it, with an SQS client.
func awsDeployment(t *testing.T, ctx context.Context) ([]string, *awssqs.Client, string) {
	t.Helper()
	moto := emulators.StartMoto(t)
	moto.Apply(t)
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	prefix, table, bucket := "dep"+suffix+"-", "dep-"+suffix, "dep-records-"+suffix
	client := createQueues(ctx, t, awsCfg, prefix)
	if err := createTable(ctx, awsCfg, table); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket,
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(moto.Region)}}); err != nil {
		t.Fatal(err)
	}
	return append(moto.Env(), "CTSYNC_STORE=dynamodb", "CTSYNC_QUEUE_PREFIX="+prefix, "CTSYNC_DYNAMODB_TABLE="+table,
		"CTSYNC_S3_BUCKET="+bucket), client, prefix
}

// With CTSYNC_STORE naming a cloud deployment's store, apply posts to the
// deployment's queues (not to a local queue, and it opens no state
// directory), records the pair's desired configuration in the shared
// store, and --wait follows that store while the deployment's function
// (here the Lambda handler fed from moto's SQS) carries the chain out.
func TestApplyPostsToTheCloudDeploymentsQueuesAndWaitFollowsItsStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sim, graphEnv := simulator(t, graphsim.Options{AppReplicationDelay: 100 * time.Millisecond, JobReplicationDelay: 100 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond, InitialCycleDelay: 100 * time.Millisecond})
	cloudEnv, client, prefix := awsDeployment(t, ctx)
	stateDir := filepath.Join(t.TempDir(), "state")
	env := append(append(append(append([]string{}, graphEnv...), fast...), cloudEnv...), "CTSYNC_STATE_DIR="+stateDir, "CTSYNC_LOG_LEVEL=warn")
	file := desiredFile(t, []string{adele.ID, lee.ID}, []string{graphsim.SampleGroup}, "")

	// Without --wait: the request lands on the first step's SQS queue.
	out, errOut, code := ctsync(t, env, "apply", "-f", file)
	if code != 0 || !strings.Contains(out, "posted to the deployment's SQS queues") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	url, err := client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(prefix + "ensure-target-partner")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 || !strings.Contains(aws.ToString(got.Messages[0].Body), `"type":"onboarding.requested"`) ||
		!strings.Contains(aws.ToString(got.Messages[0].Body), `"target":"employeeId"`) {
		t.Fatalf("the deployment's first queue holds %d message(s): %+v", len(got.Messages), got.Messages)
	}
	if _, err := client.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: url.QueueUrl,
		ReceiptHandle: got.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Fatalf("apply to a cloud deployment created the local state directory (%v)", err)
	}
	shared := openShared(t, env)
	pair, ok, err := shared.store.GetPair(ctx, graphsim.SampleSourceTenant, graphsim.SampleTargetTenant)
	if err != nil || !ok || !json.Valid(pair.Desired) || !strings.Contains(string(pair.Desired), `"target":"employeeId"`) {
		t.Fatalf("the shared store's pair record: %s, %v, %v", pair.Desired, ok, err)
	}

	// Nothing has run the queued onboarding yet, so the plan is still
	// pending: apply --wait posts again and follows the shared store while
	// the deployment (started only now) carries both out.
	out, errOut, code = ctsync(t, env, "plan", "-f", file)
	if code != 2 {
		t.Fatalf("plan before the deployment ran: exit %d\n%s\n%s", code, out, errOut)
	}
	background(t, append(env, "HOME="+t.TempDir()), "sqs-consume", "--batch-size", "5", "--visibility", "2s")
	out, errOut, code = ctsync(t, env, "apply", "-f", file, "--wait", "--timeout", "2m")
	if code != 0 || !strings.Contains(out, "✓ \"Contoso to Fabrikam\" converged") {
		t.Fatalf("apply --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, "both onboardings completed in the shared store", func() bool {
		list, err := shared.store.ListOnboardings(ctx, 0)
		done := 0
		for _, o := range list {
			if o.State == store.StateCompleted {
				done++
			}
		}
		return err == nil && done == 2
	})
	waitFor(t, "the pair converged in the emulator", func() bool {
		src := sim.Tenant(graphsim.SampleSourceTenant)
		return len(src.ServicePrincipals) == 1 && len(src.ServicePrincipals[0].Jobs) == 1 && src.ServicePrincipals[0].Jobs[0].ScheduleState == "Active"
	})
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Fatalf("apply --wait to a cloud deployment created the local state directory (%v)", err)
	}
	out, errOut, code = ctsync(t, env, "plan", "-f", file)
	if code != 0 {
		t.Fatalf("plan after the deployment converged: exit %d\n%s\n%s", code, out, errOut)
	}
}
