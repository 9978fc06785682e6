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
	LambdaHTTP                             // a function URL request (the API)
	LambdaDrift                            // the drift schedule's {"action":"drift"}
)

// Invocation is a classified invocation payload, decoded for its kind.
type Invocation struct {
	Kind  LambdaKind
	Batch *lambdaevents.SQSEvent
	HTTP  *HTTPRequest
}

// ClassifyLambda says what an invocation payload is and decodes it: an SQS
// batch, the schedule's harvest, a function URL request, or an onboarding
// CloudEvent invoked directly.
func ClassifyLambda(payload []byte) (Invocation, error) {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
		DetailType     string `json:"detail-type"`
		SpecVersion    string `json:"specversion"`
		Action         string `json:"action"`
		RequestContext struct {
			HTTP struct {
				Method string `json:"method"`
			} `json:"http"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return Invocation{}, fmt.Errorf("the invocation payload is not a JSON object: %w", err)
	}
	switch {
	case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
		var batch lambdaevents.SQSEvent
		if err := json.Unmarshal(payload, &batch); err != nil {
			return Invocation{}, fmt.Errorf("SQS batch: %w", err)
		}
		return Invocation{Kind: LambdaSQSBatch, Batch: &batch}, nil
	case probe.RequestContext.HTTP.Method != "":
		var ev lambdaevents.LambdaFunctionURLRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return Invocation{}, fmt.Errorf("function URL request: %w", err)
		}
		req, err := FunctionURLRequest(ev)
		if err != nil {
			return Invocation{}, err
		}
		return Invocation{Kind: LambdaHTTP, HTTP: &req}, nil
	case probe.Action == "drift":
		return Invocation{Kind: LambdaDrift}, nil
	case probe.DetailType == "Scheduled Event" || probe.Action == "harvest":
		return Invocation{Kind: LambdaHarvest}, nil
	case probe.SpecVersion != "":
		return Invocation{Kind: LambdaOnboarding}, nil
	}
	return Invocation{}, errors.New(`unrecognized invocation: expected an SQS batch, a function URL request, a scheduled event (or {"action":"harvest"}), {"action":"drift"}, or an onboarding.requested CloudEvent`)
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
