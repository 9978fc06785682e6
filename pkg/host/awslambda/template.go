package awslambda

import (
	"encoding/json"
	"strings"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/host/settle"
)

// Deployment settings the template encodes; they follow Lambda's and SQS's
// documented rules.
const (
	// FunctionTimeoutSeconds leaves room for the router's handler timeout
	// (4 minutes by default) and a batch's margin.
	FunctionTimeoutSeconds = 300
	// VisibilityTimeoutSeconds is at least six times the function timeout, as
	// SQS's guide for Lambda triggers asks.
	VisibilityTimeoutSeconds = 6 * FunctionTimeoutSeconds
	// MaxReceiveCount moves a record that keeps coming back (its outcome
	// cannot be published, or it crashes the function) to the poison queue.
	// Throttled invocations return records unhandled and count too, so it is
	// high: twenty receives are ten hours at the visibility timeout. The
	// router's own dead letter (with a reason) comes long before.
	MaxReceiveCount = 20
	// MaxConcurrencyPerQueue caps the invocations each step queue's trigger
	// starts at once (ScalingConfig), so the pollers do not outrun the
	// function and get throttled; there is no reserved concurrency.
	MaxConcurrencyPerQueue = 10
	// BatchSize keeps a batch well inside the function timeout.
	BatchSize = 5
	// PoisonQueue receives records Lambda gave up on; settle.DeadLetterQueue
	// receives the chain's own dead letters, with their reasons.
	PoisonQueue = "poison"
	// RecordsPrefix is where collected provisioning records go in the bucket.
	RecordsPrefix = "provisioning/"
)

// Template is the AWS SAM template (JSON) for the chain: one SQS queue per
// step, the dead-letter queues, the shared store (a DynamoDB table), the
// records bucket, the function with an SQS trigger per queue and the
// harvest schedule. infra/aws/template.json is generated from it.
func Template(t *chain.Table) []byte {
	ref := func(name string) map[string]any { return map[string]any{"Ref": name} }
	arn := func(resource string) map[string]any { return map[string]any{"Fn::GetAtt": []string{resource, "Arn"}} }
	queueName := func(q string) map[string]any { return map[string]any{"Fn::Sub": "${QueuePrefix}" + q} }

	resources := map[string]any{
		"PoisonQueue": map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{
			"QueueName": queueName(PoisonQueue), "MessageRetentionPeriod": 1209600}},
		"DeadLetterQueue": map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{
			"QueueName": queueName(settle.DeadLetterQueue), "MessageRetentionPeriod": 1209600}},
		// The shared store: every write a single-item conditional update.
		"StateTable": map[string]any{"Type": "AWS::DynamoDB::Table", "Properties": map[string]any{
			"BillingMode": "PAY_PER_REQUEST",
			"AttributeDefinitions": []any{
				map[string]any{"AttributeName": "pk", "AttributeType": "S"}, map[string]any{"AttributeName": "sk", "AttributeType": "S"}},
			"KeySchema": []any{
				map[string]any{"AttributeName": "pk", "KeyType": "HASH"}, map[string]any{"AttributeName": "sk", "KeyType": "RANGE"}},
			"TimeToLiveSpecification":          map[string]any{"AttributeName": "ttl", "Enabled": true},
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"SSESpecification":                 map[string]any{"SSEEnabled": true},
		}},
		"RecordsBucket": map[string]any{"Type": "AWS::S3::Bucket", "Properties": map[string]any{
			"PublicAccessBlockConfiguration": map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
				map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}},
			"OwnershipControls": map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
		}},
	}
	triggers := map[string]any{
		"Harvest": map[string]any{"Type": "Schedule", "Properties": map[string]any{"Schedule": ref("HarvestSchedule")}},
		"Drift": map[string]any{"Type": "Schedule", "Properties": map[string]any{"Schedule": ref("DriftSchedule"),
			"Input": `{"action":"drift"}`}},
	}
	for _, q := range t.Queues() {
		id := logicalID(q)
		resources[id+"Queue"] = map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{
			"QueueName":         queueName(q),
			"VisibilityTimeout": VisibilityTimeoutSeconds,
			"RedrivePolicy":     map[string]any{"deadLetterTargetArn": arn("PoisonQueue"), "maxReceiveCount": MaxReceiveCount},
		}}
		triggers[id] = map[string]any{"Type": "SQS", "Properties": map[string]any{
			"Queue": arn(id + "Queue"), "BatchSize": BatchSize, "FunctionResponseTypes": []string{"ReportBatchItemFailures"},
			"ScalingConfig": map[string]any{"MaximumConcurrency": MaxConcurrencyPerQueue}}}
	}
	resources["Function"] = map[string]any{
		"Type":     "AWS::Serverless::Function",
		"Metadata": map[string]any{"BuildMethod": "makefile"},
		"Properties": map[string]any{
			"CodeUri": "../..", "Handler": "bootstrap", "Runtime": "provided.al2023", "Architectures": []string{"arm64"},
			"Timeout": FunctionTimeoutSeconds, "MemorySize": 512,
			"Environment": map[string]any{"Variables": map[string]any{
				"CTSYNC_QUEUE_PREFIX": ref("QueuePrefix"), "CTSYNC_STORE": "dynamodb", "CTSYNC_DYNAMODB_TABLE": ref("StateTable"),
				"CTSYNC_S3_BUCKET": ref("RecordsBucket"), "CTSYNC_S3_PREFIX": RecordsPrefix,
				"CTSYNC_CLOUD": ref("Cloud"), "AZURE_CLIENT_ID": ref("AzureClientId"), "AZURE_CLIENT_SECRET": ref("AzureClientSecret"),
				"CTSYNC_ALLOWED_TENANTS": ref("AllowedTenants"),
			}},
			// The API (package api) on a function URL; callers sign their
			// requests (SigV4) with an identity allowed lambda:InvokeFunctionUrl.
			"FunctionUrlConfig": map[string]any{"AuthType": "AWS_IAM"},
			"Policies": []any{
				map[string]any{"Statement": []any{
					map[string]any{"Effect": "Allow", "Action": []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
						"Resource": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueuePrefix}*"}},
					map[string]any{"Effect": "Allow", "Action": []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
						"dynamodb:UpdateItem", "dynamodb:DeleteItem"}, "Resource": arn("StateTable")},
					map[string]any{"Effect": "Allow", "Action": []string{"s3:PutObject", "s3:GetObject"},
						"Resource": map[string]any{"Fn::Sub": "${RecordsBucket.Arn}/" + RecordsPrefix + "*"}},
					map[string]any{"Effect": "Allow", "Action": []string{"s3:ListBucket"}, "Resource": arn("RecordsBucket")},
				}},
			},
			"Events": triggers,
		},
	}
	tmpl := map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Transform":                "AWS::Serverless-2016-10-31",
		"Description": "ctsync on AWS Lambda: one SQS queue per step, the function, the harvest and drift schedules, the shared store " +
			"(DynamoDB) and the records bucket (generated from the chain table; do not edit)",
		"Parameters": map[string]any{
			"QueuePrefix":       map[string]any{"Type": "String", "Default": "ctsync-", "Description": "prefix of this deployment's queue names"},
			"Cloud":             map[string]any{"Type": "String", "Default": "global", "AllowedValues": []string{"global", "usgov", "usgovdod", "china"}},
			"AzureClientId":     map[string]any{"Type": "String", "Description": "the multi-tenant app consented in both tenants"},
			"AzureClientSecret": map[string]any{"Type": "String", "NoEcho": true},
			"HarvestSchedule":   map[string]any{"Type": "String", "Default": "rate(15 minutes)"},
			"DriftSchedule":     map[string]any{"Type": "String", "Default": "rate(1 hour)"},
			"AllowedTenants": map[string]any{"Type": "String", "Default": "",
				"Description": "tenant ids ctsync may touch, comma-separated; empty allows every tenant the app can reach " +
					"(Lambda caps all environment variables at 4 KB: for a longer list, ship a file and set CTSYNC_ALLOWED_TENANTS_FILE)"},
		},
		"Resources": resources,
		"Outputs": map[string]any{
			"FunctionName":  map[string]any{"Value": ref("Function")},
			"ApiUrl":        map[string]any{"Value": map[string]any{"Fn::GetAtt": "FunctionUrl.FunctionUrl"}, "Description": "the API (POST /onboardings, GET /onboardings/{id}), IAM-authenticated"},
			"StateTable":    map[string]any{"Value": ref("StateTable")},
			"RecordsBucket": map[string]any{"Value": ref("RecordsBucket")},
		},
	}
	raw, _ := json.MarshalIndent(tmpl, "", "  ")
	return append(raw, '\n')
}

// logicalID turns a queue name into a CloudFormation logical id.
func logicalID(queue string) string {
	var b strings.Builder
	for _, part := range strings.Split(queue, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}
