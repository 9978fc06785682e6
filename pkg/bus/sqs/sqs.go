// Package sqs publishes bus messages to Amazon SQS standard queues, one queue
// per step, as the AWS Lambda deployment uses them (infra/aws).
//
// SQS differs from the embedded queue in ways the Lambda deployment bridges:
//   - Lambda receives, deletes and redrives messages itself; ctsync only
//     publishes (what a step produced, delayed retry copies, dead-letter
//     records — see package settle);
//   - a message can be delayed by at most 15 minutes: a longer delay is cut
//     to that, so a retry or a monitor re-check comes early and waits again;
//   - standard queues do not de-duplicate: a message published twice (a
//     crash between publishing and Lambda's delete) arrives twice, and the
//     steps' idempotent ensures absorb it.
package sqs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/wire"
)

// Limits of SendMessageBatch and of per-message delays.
const (
	MaxBatchEntries = 10
	// MaxBatchBytes stays at the long-standing 256 KiB payload limit, which
	// every region and queue accepts.
	MaxBatchBytes = 256 << 10
	MaxDelay      = 15 * time.Minute
)

// IDAttribute carries the CloudEvent id: SQS assigns its own message ids.
const IDAttribute = wire.IDAttribute

// Publisher sends to the queues named Prefix+queue.
type Publisher struct {
	client *sqs.Client
	// Prefix keeps several deployments apart in one account and region.
	Prefix string
	Now    func() time.Time

	mu   sync.Mutex
	urls map[string]string
}

var _ bus.Publisher = (*Publisher)(nil)

// Connect uses the AWS SDK's default credential chain and region (on
// Lambda: the function's role and AWS_REGION).
func Connect(ctx context.Context, prefix string) (*Publisher, error) {
	client, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	return New(client, prefix), nil
}

// Client is an SQS client from the AWS SDK's default configuration
// (AWS_ENDPOINT_URL points it at an emulator).
func Client(ctx context.Context) (*sqs.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION")
	}
	return sqs.NewFromConfig(cfg), nil
}

// New publishes with client.
func New(client *sqs.Client, prefix string) *Publisher {
	return &Publisher{client: client, Prefix: prefix, urls: map[string]string{}}
}

// Publish implements bus.Publisher. Entries SQS refused for a passing reason
// are sent again; the call fails if any entry is still unsent, and a caller
// that retries may send the sent ones twice (see the package comment).
func (p *Publisher) Publish(ctx context.Context, msgs ...bus.Outgoing) error {
	byQueue := map[string][]bus.Outgoing{}
	var order []string
	for _, m := range msgs {
		if _, seen := byQueue[m.Queue]; !seen {
			order = append(order, m.Queue)
		}
		byQueue[m.Queue] = append(byQueue[m.Queue], m)
	}
	for _, q := range order {
		url, err := p.queueURL(ctx, q)
		if err != nil {
			return err
		}
		for _, batch := range Batches(byQueue[q], p.now()) {
			if err := p.send(ctx, url, batch); err != nil {
				return fmt.Errorf("send to SQS queue %s: %w", p.Prefix+q, err)
			}
		}
	}
	return nil
}

func (p *Publisher) send(ctx context.Context, url string, entries []types.SendMessageBatchRequestEntry) error {
	for attempt := 1; ; attempt++ {
		out, err := p.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			return err
		}
		if len(out.Failed) == 0 {
			return nil
		}
		byID := map[string]types.SendMessageBatchRequestEntry{}
		for _, e := range entries {
			byID[aws.ToString(e.Id)] = e
		}
		var again []types.SendMessageBatchRequestEntry
		var reasons []string
		for _, f := range out.Failed {
			reasons = append(reasons, aws.ToString(f.Code)+": "+aws.ToString(f.Message))
			if f.SenderFault {
				return fmt.Errorf("SQS refused a message: %s", strings.Join(reasons, "; "))
			}
			again = append(again, byID[aws.ToString(f.Id)])
		}
		if attempt == 3 {
			return fmt.Errorf("%d message(s) unsent after %d attempts: %s", len(again), attempt, strings.Join(reasons, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
		entries = again
	}
}

func (p *Publisher) queueURL(ctx context.Context, queue string) (string, error) {
	p.mu.Lock()
	url, ok := p.urls[queue]
	p.mu.Unlock()
	if ok {
		return url, nil
	}
	out, err := p.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(p.Prefix + queue)})
	if err != nil {
		return "", fmt.Errorf("find SQS queue %s (is it created, and may the role sqs:GetQueueUrl and sqs:SendMessage on it?): %w", p.Prefix+queue, err)
	}
	p.mu.Lock()
	p.urls[queue] = aws.ToString(out.QueueUrl)
	p.mu.Unlock()
	return aws.ToString(out.QueueUrl), nil
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Batches groups messages for one queue into SendMessageBatch entries within
// the batch limits, each carrying its event id and its remaining delay.
func Batches(msgs []bus.Outgoing, now time.Time) [][]types.SendMessageBatchRequestEntry {
	var batches [][]types.SendMessageBatchRequestEntry
	var cur []types.SendMessageBatchRequestEntry
	size := 0
	for _, m := range msgs {
		e := types.SendMessageBatchRequestEntry{
			Id:           aws.String("m" + strconv.Itoa(len(cur))),
			MessageBody:  aws.String(string(m.Body)),
			DelaySeconds: DelaySeconds(m.NotBefore, now),
			MessageAttributes: map[string]types.MessageAttributeValue{
				IDAttribute: {DataType: aws.String("String"), StringValue: aws.String(m.ID)},
			},
		}
		n := len(m.Body) + len(IDAttribute) + len("String") + len(m.ID)
		if len(cur) == MaxBatchEntries || (len(cur) > 0 && size+n > MaxBatchBytes) {
			batches = append(batches, cur)
			cur, size = nil, 0
			e.Id = aws.String("m0")
		}
		cur = append(cur, e)
		size += n
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

// DelaySeconds is the SQS delay for a message due at notBefore: rounded up
// to whole seconds and cut to SQS's maximum.
func DelaySeconds(notBefore, now time.Time) int32 {
	if notBefore.IsZero() || !notBefore.After(now) {
		return 0
	}
	d := notBefore.Sub(now)
	if d > MaxDelay {
		return int32(MaxDelay / time.Second)
	}
	return int32((d + time.Second - 1) / time.Second)
}
