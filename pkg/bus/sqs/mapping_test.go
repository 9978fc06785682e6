package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/emulators"
)

// The mapping settles a batch as Lambda's does: records the function names
// in batchItemFailures come back after their visibility timeout, the others
// are deleted; a failed invocation brings the whole batch back; with
// Duplicate every batch is invoked twice.
func TestTheEventSourceMappingSettlesAsLambdaDoes(t *testing.T) {
	emulators.StartMoto(t).Apply(t)
	ctx := context.Background()
	client, err := Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("esm%d-", time.Now().UnixNano())
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(prefix + "step")})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []bus.Outgoing
	for i := range 4 {
		msgs = append(msgs, bus.Outgoing{ID: fmt.Sprintf("evt-%d", i), Queue: "step", Body: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	if err := New(client, prefix).Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	failOnce := map[string]bool{"evt-1": true}
	crashOnce := true
	m := &EventSourceMapping{Client: client, Prefix: prefix, Queues: []string{"step"}, Visibility: time.Second, WaitTime: time.Second,
		BatchSize: 10, Duplicate: true, Region: "eu-west-1",
		Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			var ev lambdaevents.SQSEvent
			if err := json.Unmarshal(payload, &ev); err != nil {
				t.Errorf("not an SQS event: %s", payload)
			}
			if crashOnce && len(ev.Records) > 0 {
				crashOnce = false
				return nil, errors.New("the function crashed")
			}
			var resp lambdaevents.SQSEventResponse
			for _, r := range ev.Records {
				id := *r.MessageAttributes[IDAttribute].StringValue
				seen[id]++
				if r.EventSource != "aws:sqs" || r.EventSourceARN != "arn:aws:sqs:eu-west-1:123456789012:"+prefix+"step" || r.Attributes["ApproximateReceiveCount"] == "" {
					t.Errorf("record %+v is not as Lambda builds it", r)
				}
				if failOnce[id] {
					delete(failOnce, id)
					resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return json.Marshal(resp)
		}}
	url := aws.ToString(out.QueueUrl)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := m.Poll(ctx, prefix+"step", url); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		done := len(seen) == 4 && len(failOnce) == 0
		mu.Unlock()
		attrs, _ := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		empty := attrs.Attributes["ApproximateNumberOfMessages"] == "0" && attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
		if done && empty {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seen %v, still to fail %v, queue %v", seen, failOnce, attrs.Attributes)
		}
	}
	// Every record twice (Duplicate), the one that failed twice more when
	// it came back; the crashed invocation counted nothing.
	for id, n := range seen {
		want := 2
		if id == "evt-1" {
			want = 4
		}
		if n != want {
			t.Errorf("%s invoked %d times, want %d", id, n, want)
		}
	}
}
