package main

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ctsync/ctsync/pkg/bus/sqs"
	"github.com/ctsync/ctsync/pkg/host/awslambda"
)

// runLambda serves AWS Lambda invocations; the binary runs this when it is
// started as the function's bootstrap. Settings, besides the Graph ones:
//
//	AWS_LAMBDA_RUNTIME_API   set by Lambda
//	AWS_REGION               set by Lambda; SQS is reached with the function's role
//	CTSYNC_QUEUE_PREFIX      the deployment's prefix on its SQS queue names
//	CTSYNC_STORE=dynamodb    the shared store (DynamoDB) and records (S3), with their settings
func runLambda(ctx context.Context, env *environment, args []string) error {
	if _, err := env.parse(newFlagSet("lambda"), args); err != nil {
		return err
	}
	if env.getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		return errors.New("AWS_LAMBDA_RUNTIME_API is not set: this command is started by AWS Lambda as the function's bootstrap")
	}
	out, err := sqs.Connect(ctx, env.getenv("CTSYNC_QUEUE_PREFIX"))
	if err != nil {
		return err
	}
	host, err := env.openCloudHost(ctx, storeDynamoDB, out, "")
	if err != nil {
		return err
	}
	h := &awslambda.Handler{Host: host, QueuePrefix: out.Prefix}
	lambda.StartWithOptions(h.Invoke, lambda.WithContext(ctx))
	return nil
}
