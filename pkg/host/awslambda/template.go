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
	// MaxReceiveCount moves a record that keeps failing (its outcome cannot
	// be published) to the poison queue.
	MaxReceiveCount = 5
	// BatchSize keeps a batch well inside the function timeout.
	BatchSize = 5
	// StateMount is where the store lives (an EFS access point).
	StateMount = "/mnt/ctsync"
	// PoisonQueue receives records Lambda gave up on; settle.DeadLetterQueue
	// receives the chain's own dead letters, with their reasons.
	PoisonQueue = "poison"
)

// Template is the AWS SAM template (JSON) for the chain: one SQS queue per
// step, the dead-letter queue, the function with an SQS trigger per queue
// and the harvest schedule. infra/aws/template.json is generated from it.
func Template(t *chain.Table) []byte {
	ref := func(name string) map[string]any { return map[string]any{"Ref": name} }
	arn := func(resource string) map[string]any { return map[string]any{"Fn::GetAtt": []string{resource, "Arn"}} }
	queueName := func(q string) map[string]any { return map[string]any{"Fn::Sub": "${QueuePrefix}" + q} }

	resources := map[string]any{
		"PoisonQueue": map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{
			"QueueName": queueName(PoisonQueue), "MessageRetentionPeriod": 1209600}},
		"DeadLetterQueue": map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{
			"QueueName": queueName(settle.DeadLetterQueue), "MessageRetentionPeriod": 1209600}},
	}
	triggers := map[string]any{
		"Harvest": map[string]any{"Type": "Schedule", "Properties": map[string]any{"Schedule": ref("HarvestSchedule")}},
	}
	for _, q := range t.Queues() {
		id := logicalID(q)
		resources[id+"Queue"] = map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{
			"QueueName":         queueName(q),
			"VisibilityTimeout": VisibilityTimeoutSeconds,
			"RedrivePolicy":     map[string]any{"deadLetterTargetArn": arn("PoisonQueue"), "maxReceiveCount": MaxReceiveCount},
		}}
		triggers[id] = map[string]any{"Type": "SQS", "Properties": map[string]any{
			"Queue": arn(id + "Queue"), "BatchSize": BatchSize, "FunctionResponseTypes": []string{"ReportBatchItemFailures"}}}
	}
	resources["Function"] = map[string]any{
		"Type":     "AWS::Serverless::Function",
		"Metadata": map[string]any{"BuildMethod": "makefile"},
		"Properties": map[string]any{
			"CodeUri": "../..", "Handler": "bootstrap", "Runtime": "provided.al2023", "Architectures": []string{"arm64"},
			"Timeout": FunctionTimeoutSeconds, "MemorySize": 512,
			// One instance at a time: the store is one SQLite file on EFS.
			"ReservedConcurrentExecutions": 1,
			"Environment": map[string]any{"Variables": map[string]any{
				"CTSYNC_QUEUE_PREFIX": ref("QueuePrefix"), "CTSYNC_STATE_DIR": StateMount + "/state",
				"CTSYNC_CLOUD": ref("Cloud"), "AZURE_CLIENT_ID": ref("AzureClientId"), "AZURE_CLIENT_SECRET": ref("AzureClientSecret"),
			}},
			"FileSystemConfigs": []any{map[string]any{"Arn": ref("EfsAccessPointArn"), "LocalMountPath": StateMount}},
			"VpcConfig":         map[string]any{"SubnetIds": ref("SubnetIds"), "SecurityGroupIds": ref("SecurityGroupIds")},
			"Policies": []any{
				"AWSLambdaVPCAccessExecutionRole",
				map[string]any{"Statement": []any{
					map[string]any{"Effect": "Allow", "Action": []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
						"Resource": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueuePrefix}*"}},
					map[string]any{"Effect": "Allow", "Action": []string{"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"},
						"Resource": "*", "Condition": map[string]any{"StringEquals": map[string]any{"elasticfilesystem:AccessPointArn": ref("EfsAccessPointArn")}}},
				}},
			},
			"Events": triggers,
		},
	}
	tmpl := map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Transform":                "AWS::Serverless-2016-10-31",
		"Description":              "ctsync on AWS Lambda: one SQS queue per step, the function, the harvest schedule (generated from the chain table; do not edit)",
		"Parameters": map[string]any{
			"QueuePrefix":       map[string]any{"Type": "String", "Default": "ctsync-", "Description": "prefix of this deployment's queue names"},
			"Cloud":             map[string]any{"Type": "String", "Default": "global", "AllowedValues": []string{"global", "usgov", "usgovdod", "china"}},
			"AzureClientId":     map[string]any{"Type": "String", "Description": "the multi-tenant app consented in both tenants"},
			"AzureClientSecret": map[string]any{"Type": "String", "NoEcho": true},
			"EfsAccessPointArn": map[string]any{"Type": "String", "Description": "EFS access point holding the store"},
			"SubnetIds":         map[string]any{"Type": "List<AWS::EC2::Subnet::Id>", "Description": "subnets reaching EFS and, through NAT, Graph and SQS"},
			"SecurityGroupIds":  map[string]any{"Type": "List<AWS::EC2::SecurityGroup::Id>"},
			"HarvestSchedule":   map[string]any{"Type": "String", "Default": "rate(15 minutes)"},
		},
		"Resources": resources,
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
