package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ctsync/ctsync/pkg/bus/sqs"
	"github.com/ctsync/ctsync/pkg/host/awslambda"
)

// runSQSConsume runs the Lambda handler in this process, fed the way
// Lambda's SQS event source mapping feeds it in AWS: batches from the step
// queues, partial batch failures honoured; and, with --harvest-interval,
// the schedule's harvest. It is how the scale-out test runs several Lambda
// "instances" against moto, and how a deployment can be rehearsed locally.
func runSQSConsume(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("sqs-consume")
	duplicate := fs.Bool("duplicate", false, "invoke every batch twice before deleting it (at-least-once delivery, made certain)")
	batch := fs.Int("batch-size", 5, "records per invocation (at most 10)")
	visibility := fs.Duration("visibility", time.Minute, "how long a received batch stays invisible to other consumers")
	harvestEvery := fs.Duration("harvest-interval", 0, "invoke the scheduled harvest this often (0: never)")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if err := positive("visibility", *visibility); err != nil {
		return err
	}
	if err := notNegative("harvest-interval", *harvestEvery); err != nil {
		return err
	}
	if *batch < 1 || *batch > 10 {
		return fmt.Errorf("%w: --batch-size must be 1 to 10", errUsage)
	}
	out, err := sqs.Connect(ctx, env.getenv("CTSYNC_QUEUE_PREFIX"))
	if err != nil {
		return err
	}
	host, err := env.openCloudHost(ctx, storeDynamoDB, out, "")
	if err != nil {
		return err
	}
	fn := lambda.NewHandler((&awslambda.Handler{Host: host, QueuePrefix: out.Prefix}).Invoke)
	var requests atomic.Int64
	invoke := func(ctx context.Context, payload []byte) ([]byte, error) {
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("local-%d", requests.Add(1))})
		ctx, cancel := context.WithTimeout(ctx, awslambda.FunctionTimeoutSeconds*time.Second)
		defer cancel()
		return fn.Invoke(ctx, payload)
	}
	client, err := sqs.Client(ctx)
	if err != nil {
		return err
	}
	if *harvestEvery > 0 {
		go func() {
			t := time.NewTicker(*harvestEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					event, _ := json.Marshal(map[string]any{"version": "0", "id": fmt.Sprint(time.Now().UnixNano()), "detail-type": "Scheduled Event",
						"source": "aws.events", "time": time.Now().UTC().Format(time.RFC3339), "region": env.getenv("AWS_REGION"), "detail": map[string]any{}})
					if _, err := invoke(ctx, event); err != nil && !errors.Is(err, context.Canceled) {
						host.Logger().Error("scheduled harvest failed", "error", err)
					}
				}
			}
		}()
	}
	esm := &sqs.EventSourceMapping{Client: client, Prefix: out.Prefix, Queues: stepQueues(), Invoke: invoke, BatchSize: *batch,
		Visibility: *visibility, Duplicate: *duplicate, Region: env.getenv("AWS_REGION"), Log: host.Logger()}
	host.Logger().Info("consuming SQS as Lambda's event source mapping would", "queues", len(esm.Queues), "prefix", out.Prefix, "duplicate", *duplicate)
	return esm.Run(ctx)
}
