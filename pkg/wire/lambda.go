package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// LambdaKind is what a Lambda invocation payload is.
type LambdaKind int

// The invocations the function answers.
const (
	LambdaSQSBatch   LambdaKind = iota + 1 // from the event source mapping
	LambdaHarvest                          // the schedule, or {"action":"harvest"}
	LambdaOnboarding                       // an onboarding.requested CloudEvent, invoked directly
)

// ClassifyLambda says what an invocation payload is; for an SQS batch it
// returns the batch decoded.
func ClassifyLambda(payload []byte) (LambdaKind, *lambdaevents.SQSEvent, error) {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
		DetailType  string `json:"detail-type"`
		SpecVersion string `json:"specversion"`
		Action      string `json:"action"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return 0, nil, fmt.Errorf("the invocation payload is not a JSON object: %w", err)
	}
	switch {
	case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
		var batch lambdaevents.SQSEvent
		if err := json.Unmarshal(payload, &batch); err != nil {
			return 0, nil, fmt.Errorf("SQS batch: %w", err)
		}
		return LambdaSQSBatch, &batch, nil
	case probe.DetailType == "Scheduled Event" || probe.Action == "harvest":
		return LambdaHarvest, nil, nil
	case probe.SpecVersion != "":
		return LambdaOnboarding, nil, nil
	}
	return 0, nil, errors.New(`unrecognized invocation: expected an SQS batch, a scheduled event (or {"action":"harvest"}), or an onboarding.requested CloudEvent`)
}

// IDAttribute is the SQS message attribute that carries ctsync's message id
// (SQS assigns its own MessageId; the router de-duplicates on ctsync's).
const IDAttribute = "ctsync-id"

// SQSMessage maps a record of a batch to a message of the step queue it
// came from: the queue is the ARN's last part without the deployment's
// prefix, and must be one isStepQueue accepts.
func SQSMessage(r lambdaevents.SQSMessage, prefix string, isStepQueue func(string) bool) (Message, time.Time, error) {
	arn := r.EventSourceARN
	name := arn[strings.LastIndex(arn, ":")+1:]
	queue, ok := strings.CutPrefix(name, prefix)
	if !ok || queue == "" || !isStepQueue(queue) {
		return Message{}, time.Time{}, fmt.Errorf("queue %q (from %s) is not a step queue of this chain with prefix %q", name, arn, prefix)
	}
	id := r.MessageId
	if a, ok := r.MessageAttributes[IDAttribute]; ok && a.StringValue != nil && *a.StringValue != "" {
		id = *a.StringValue
	}
	received, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
	m := Message{ID: id, Queue: queue, Body: []byte(r.Body), DeliveryCount: max(received, 1), LockToken: r.ReceiptHandle}
	var sent time.Time
	if ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err == nil {
		sent = time.UnixMilli(ms).UTC()
	}
	return m, sent, nil
}
