package sqs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/emulators"
)

// Batching and delays are plain data, checked without AWS.
func TestBatchesRespectTheEntryAndSizeLimits(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var msgs []bus.Outgoing
	for i := range 23 {
		msgs = append(msgs, bus.Outgoing{ID: fmt.Sprintf("evt-%d", i), Queue: "q", Body: []byte(`{"n":1}`)})
	}
	batches := Batches(msgs, now)
	if len(batches) != 3 || len(batches[0]) != 10 || len(batches[1]) != 10 || len(batches[2]) != 3 {
		t.Fatalf("23 messages: batches of %v", sizes(batches))
	}
	for _, b := range batches {
		ids := map[string]bool{}
		for _, e := range b {
			if ids[aws.ToString(e.Id)] {
				t.Fatalf("entry id %s twice in one batch", aws.ToString(e.Id))
			}
			ids[aws.ToString(e.Id)] = true
		}
	}
	if got := aws.ToString(batches[2][2].MessageAttributes[IDAttribute].StringValue); got != "evt-22" {
		t.Fatalf("the event id travels as %s, got %q", IDAttribute, got)
	}

	big := strings.Repeat("x", 100<<10)
	batches = Batches([]bus.Outgoing{{ID: "a", Body: []byte(big)}, {ID: "b", Body: []byte(big)}, {ID: "c", Body: []byte(big)}}, now)
	if len(batches) != 2 || len(batches[0]) != 2 || len(batches[1]) != 1 || aws.ToString(batches[1][0].Id) != "m0" {
		t.Fatalf("3 × 100 KiB: batches of %v", sizes(batches))
	}
}

func TestDelaysRoundUpAndStopAtFifteenMinutes(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Time
		want int32
	}{
		{time.Time{}, 0},
		{now.Add(-time.Minute), 0},
		{now.Add(1500 * time.Millisecond), 2},
		{now.Add(5 * time.Minute), 300},
		{now.Add(2 * time.Hour), 900},
	} {
		if got := DelaySeconds(c.at, now); got != c.want {
			t.Errorf("due %v after now: delay %d, want %d", c.at.Sub(now), got, c.want)
		}
	}
}

func TestMain(m *testing.M) { os.Exit(emulators.Main(m)) }

// The publisher's contract runs against moto's SQS (the JSON protocol
// aws-sdk-go-v2 speaks) in every test run.
func TestPublisherAgainstMoto(t *testing.T) {
	emulators.StartMoto(t).Apply(t)
	ctx := context.Background()
	client, err := Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("contract-%d", time.Now().UnixNano())
	if _, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	publisherContract(t, New(client, ""), name, 3*time.Second)
}

// It also runs against a real queue when one is configured:
//
//	CTSYNC_TEST_SQS_QUEUE  the name of a standard queue for tests only (it is drained)
//	AWS_REGION and credentials as the AWS SDK finds them (AWS_PROFILE, AWS_ACCESS_KEY_ID, …)
func TestPublisherAgainstSQS(t *testing.T) {
	name := os.Getenv("CTSYNC_TEST_SQS_QUEUE")
	if name == "" {
		t.Skip("skipped: set CTSYNC_TEST_SQS_QUEUE (and AWS credentials) to run the publisher's contract against Amazon SQS as well")
	}
	p, err := Connect(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	publisherContract(t, p, name, 20*time.Second)
}

// publisherContract: more messages than a batch holds, and bodies too big
// for one, all arrive with their event id as a message attribute; a delayed
// message comes after the others; a delay beyond SQS's 15 minutes is cut to
// them, not refused.
func publisherContract(t *testing.T, p *Publisher, name string, delay time.Duration) {
	ctx := context.Background()
	url, err := p.queueURL(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, p.client, url)
	var msgs []bus.Outgoing
	for i := range 12 {
		msgs = append(msgs, bus.Outgoing{ID: fmt.Sprintf("evt-%d", i), Queue: name, Body: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	big := strings.Repeat("x", 100<<10)
	for i := range 3 {
		msgs = append(msgs, bus.Outgoing{ID: fmt.Sprintf("big-%d", i), Queue: name, Body: fmt.Appendf(nil, `{"big":%q}`, big)})
	}
	msgs = append(msgs, bus.Outgoing{ID: "later", Queue: name, Body: []byte(`{"n":"later"}`), NotBefore: time.Now().Add(delay)})
	msgs = append(msgs, bus.Outgoing{ID: "in-two-hours", Queue: name, Body: []byte(`{"n":"much later"}`), NotBefore: time.Now().Add(2 * time.Hour)})
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	deadline := time.Now().Add(delay + time.Minute)
	for len(got) < 16 && time.Now().Before(deadline) {
		for _, m := range receive(t, p.client, url) {
			id := aws.ToString(m.MessageAttributes[IDAttribute].StringValue)
			if id == "later" && len(got) < 15 {
				t.Errorf("the delayed message came before the others")
			}
			got[id] = aws.ToString(m.Body)
		}
	}
	if len(got) != 16 || got["evt-11"] != `{"n":11}` || got["later"] != `{"n":"later"}` || len(got["big-2"]) != len(big)+10 {
		t.Fatalf("received %d messages: %v", len(got), keys(got))
	}
	if _, early := got["in-two-hours"]; early {
		t.Fatal("a message due in two hours arrived")
	}
	attrs, err := p.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil || attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)] != "1" {
		t.Fatalf("the message due in two hours must wait in the queue, delayed by SQS's maximum: %v %v", attrs, err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func receive(t *testing.T, c *sqs.Client, url string) []types.Message {
	t.Helper()
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		WaitTimeSeconds: 5, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.Messages {
		if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	return out.Messages
}

func drain(t *testing.T, c *sqs.Client, url string) {
	t.Helper()
	for len(receive(t, c, url)) > 0 {
	}
}

func sizes(batches [][]types.SendMessageBatchRequestEntry) []int {
	var n []int
	for _, b := range batches {
		n = append(n, len(b))
	}
	return n
}
