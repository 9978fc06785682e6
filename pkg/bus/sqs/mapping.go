package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EventSourceMapping plays Lambda's SQS event source mapping: it polls the
// queues, hands each batch to the function as an SQS event, deletes the
// records the function did not name in batchItemFailures, and leaves those
// (or the whole batch, when the invocation fails) to come back when their
// visibility timeout ends. SQS itself holds back delayed messages
// (DelaySeconds). In AWS, Lambda runs this; here it feeds the Lambda handler
// in tests, in the scale-out proof and under the Runtime Interface Emulator.
type EventSourceMapping struct {
	Client *sqs.Client
	// Prefix and Queues name the queues: Prefix+queue.
	Prefix string
	Queues []string
	// Invoke calls the function with an SQS event and returns its answer.
	Invoke func(ctx context.Context, payload []byte) ([]byte, error)
	// BatchSize is at most 10 (SQS's receive limit); default 10.
	BatchSize int
	// Visibility is how long a received batch stays invisible; default 60 s.
	Visibility time.Duration
	// WaitTime is the long poll of each receive; default 20 s, as Lambda's
	// pollers use it.
	WaitTime time.Duration
	// Duplicate invokes every batch twice before deleting it: the
	// at-least-once delivery SQS and Lambda allow, made certain.
	Duplicate bool
	// Region and Account appear in the records' eventSourceARN.
	Region, Account string
	Log             *slog.Logger
}

// Run polls every queue until ctx ends.
func (m *EventSourceMapping) Run(ctx context.Context) error {
	m.defaults()
	var wg sync.WaitGroup
	for _, q := range m.Queues {
		out, err := m.Client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(m.Prefix + q)})
		if err != nil {
			return fmt.Errorf("queue %s%s: %w", m.Prefix, q, err)
		}
		wg.Add(1)
		go func(name, url string) {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := m.Poll(ctx, name, url); err != nil && ctx.Err() == nil {
					m.Log.Warn("polling failed", "queue", name, "error", err)
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		}(m.Prefix+q, aws.ToString(out.QueueUrl))
	}
	wg.Wait()
	return nil
}

func (m *EventSourceMapping) defaults() {
	if m.BatchSize <= 0 || m.BatchSize > 10 {
		m.BatchSize = 10
	}
	if m.Visibility <= 0 {
		m.Visibility = time.Minute
	}
	if m.WaitTime <= 0 || m.WaitTime > 20*time.Second {
		m.WaitTime = 20 * time.Second
	}
	if m.Log == nil {
		m.Log = slog.New(slog.DiscardHandler)
	}
	if m.Account == "" {
		m.Account = "123456789012"
	}
}

// Poll receives one batch from the queue at url, invokes the function and
// settles the batch. It returns how many records it received.
func (m *EventSourceMapping) Poll(ctx context.Context, name, url string) (int, error) {
	m.defaults()
	out, err := m.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: int32(m.BatchSize), WaitTimeSeconds: int32(m.WaitTime / time.Second),
		VisibilityTimeout:           int32(m.Visibility / time.Second),
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil || len(out.Messages) == 0 {
		return 0, err
	}
	event := lambdaevents.SQSEvent{}
	for _, msg := range out.Messages {
		event.Records = append(event.Records, m.record(name, msg))
	}
	payload, err := json.Marshal(event)
	if err != nil {
		return 0, err
	}
	failed, err := m.invoke(ctx, payload)
	if err == nil && m.Duplicate {
		var again map[string]bool
		again, err = m.invoke(ctx, payload)
		for id := range again {
			failed[id] = true
		}
	}
	if err != nil {
		// A failed invocation fails the whole batch: every record returns
		// after its visibility timeout, as with Lambda.
		m.Log.Warn("invocation failed; the batch comes back", "queue", name, "records", len(out.Messages), "error", err)
		return len(out.Messages), nil
	}
	var done []types.DeleteMessageBatchRequestEntry
	for i, msg := range out.Messages {
		if !failed[aws.ToString(msg.MessageId)] {
			done = append(done, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msg.ReceiptHandle})
		}
	}
	if len(done) > 0 {
		resp, err := m.Client.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: done})
		if err != nil {
			return len(out.Messages), err
		}
		if len(resp.Failed) > 0 {
			return len(out.Messages), fmt.Errorf("%d record(s) not deleted; they come back", len(resp.Failed))
		}
	}
	return len(out.Messages), nil
}

// invoke calls the function and returns the records it asked to get again.
func (m *EventSourceMapping) invoke(ctx context.Context, payload []byte) (map[string]bool, error) {
	answer, err := m.Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	var resp struct {
		lambdaevents.SQSEventResponse
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, fmt.Errorf("the function answered %q: %w", answer, err)
	}
	if resp.ErrorMessage != "" {
		return nil, errors.New(resp.ErrorMessage)
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	return failed, nil
}

// record is the Lambda SQS record for msg, as Lambda builds it.
func (m *EventSourceMapping) record(queue string, msg types.Message) lambdaevents.SQSMessage {
	r := lambdaevents.SQSMessage{
		MessageId: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle), Body: aws.ToString(msg.Body),
		Md5OfBody: aws.ToString(msg.MD5OfBody), Attributes: msg.Attributes, MessageAttributes: map[string]lambdaevents.SQSMessageAttribute{},
		EventSource: "aws:sqs", EventSourceARN: fmt.Sprintf("arn:aws:sqs:%s:%s:%s", m.Region, m.Account, queue), AWSRegion: m.Region,
	}
	for name, a := range msg.MessageAttributes {
		r.MessageAttributes[name] = lambdaevents.SQSMessageAttribute{StringValue: a.StringValue, BinaryValue: a.BinaryValue,
			DataType: aws.ToString(a.DataType)}
	}
	return r
}
