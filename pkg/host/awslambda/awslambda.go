// Package awslambda runs the chain on AWS Lambda. One function serves three
// kinds of invocation, told apart by their payload:
//   - an SQS batch from the step queues (one queue per step, as on Azure):
//     each record is a step's message; the answer names the records to
//     deliver again (partial batch responses, ReportBatchItemFailures);
//   - an EventBridge schedule: one harvest of the provisioning logs;
//   - an onboarding.requested CloudEvent, invoked directly by automation or
//     a ticket system: it is validated and queued, and the answer carries
//     the onboarding id.
//
// Lambda deletes a record the function reports as handled and redelivers
// the others after the queue's visibility timeout; it can neither delay a
// record by a chosen time nor dead-letter it with a reason. So the runner
// settles by publishing (package settle) to SQS, and a record is reported
// as failed only when that publishing failed.
package awslambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/bus/sqs"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/host/settle"
)

// Handler serves the function's invocations.
type Handler struct {
	Runner *chain.Runner
	// Harvest runs one harvest (the schedule).
	Harvest func(ctx context.Context) (harvest.Summary, error)
	// Intake queues a validated onboarding.requested event and returns its
	// onboarding id.
	Intake func(ctx context.Context, ev events.Event) (string, error)
	// QueuePrefix is the deployment's prefix on the step queues' names.
	QueuePrefix string
	// Margin is the time left before the invocation's deadline under which
	// no further record is started: the rest come back, untouched.
	Margin time.Duration
	Log    *slog.Logger
}

// Accepted answers an intake invocation.
type Accepted struct {
	OnboardingID string `json:"onboardingId"`
	EventID      string `json:"eventId"`
}

// HarvestResult answers a scheduled invocation.
type HarvestResult struct {
	Configurations int      `json:"configurations"`
	Pages          int      `json:"pages"`
	Records        int      `json:"records"`
	Delivered      int      `json:"delivered"`
	Failures       int      `json:"failedProvisioning"`
	Lost           []string `json:"lost,omitempty"`
	Errors         []string `json:"errors,omitempty"`
}

// Invoke is the function's entry point (lambda.Start(h.Invoke)).
func (h *Handler) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
		DetailType  string `json:"detail-type"`
		SpecVersion string `json:"specversion"`
		Action      string `json:"action"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("the invocation payload is not a JSON object: %w", err)
	}
	switch {
	case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
		var batch lambdaevents.SQSEvent
		if err := json.Unmarshal(payload, &batch); err != nil {
			return nil, fmt.Errorf("SQS batch: %w", err)
		}
		return h.Steps(ctx, batch), nil
	case probe.DetailType == "Scheduled Event" || probe.Action == "harvest":
		return h.harvest(ctx)
	case probe.SpecVersion != "":
		return h.intake(ctx, payload)
	}
	return nil, errors.New(`unrecognized invocation: expected an SQS batch, a scheduled event (or {"action":"harvest"}), or an onboarding.requested CloudEvent`)
}

// Steps runs each record of a batch through the chain, in order, and names
// the records Lambda must deliver again.
func (h *Handler) Steps(ctx context.Context, batch lambdaevents.SQSEvent) lambdaevents.SQSEventResponse {
	var resp lambdaevents.SQSEventResponse
	again := func(r lambdaevents.SQSMessage) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
	}
	for i, r := range batch.Records {
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < h.margin() {
			h.log().Warn("invocation deadline near; handing back the rest of the batch", "records", len(batch.Records)-i)
			for _, rest := range batch.Records[i:] {
				again(rest)
			}
			break
		}
		d, err := h.delivery(r)
		if err != nil {
			h.log().Error("record not for this function", "message_id", r.MessageId, "error", err)
			again(r) // the queue's redrive policy moves it aside after maxReceiveCount
			continue
		}
		if err := h.Runner.Process(ctx, d); err != nil {
			h.log().Error("settling failed; the record comes back", "queue", d.Queue, "message_id", d.ID, "error", err)
			again(r)
		}
	}
	return resp
}

// delivery maps a record to the bus delivery the runner expects.
func (h *Handler) delivery(r lambdaevents.SQSMessage) (bus.Delivery, error) {
	arn := r.EventSourceARN
	name := arn[strings.LastIndex(arn, ":")+1:]
	queue, ok := strings.CutPrefix(name, h.QueuePrefix)
	if !ok || !h.Runner.Table().HasQueue(queue) {
		return bus.Delivery{}, fmt.Errorf("queue %q (from %s) is not a step queue of this chain with prefix %q", name, arn, h.QueuePrefix)
	}
	id := r.MessageId
	if a, ok := r.MessageAttributes[sqs.IDAttribute]; ok && a.StringValue != nil && *a.StringValue != "" {
		id = *a.StringValue
	}
	received, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
	body := []byte(r.Body)
	d := bus.Delivery{ID: id, Queue: queue, Body: body, DeliveryCount: max(received, 1) + settle.AttemptsIn(body), LockToken: r.ReceiptHandle}
	if ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err == nil {
		d.EnqueuedAt = time.UnixMilli(ms).UTC()
	}
	return d, nil
}

func (h *Handler) harvest(ctx context.Context) (HarvestResult, error) {
	if h.Harvest == nil {
		return HarvestResult{}, errors.New("no harvester configured")
	}
	sum, err := h.Harvest(ctx)
	if errors.Is(err, harvest.ErrBusy) {
		h.log().Info("harvest skipped", "reason", err.Error())
		return HarvestResult{}, nil
	}
	if err != nil {
		return HarvestResult{}, err
	}
	res := HarvestResult{Configurations: sum.Configurations, Pages: sum.Pages, Records: sum.Records, Delivered: sum.Delivered, Failures: sum.Failures}
	for _, g := range sum.Gaps {
		res.Lost = append(res.Lost, fmt.Sprintf("logs of %s from %s to %s expired before they were read", g.Config.ServicePrincipalID, g.From, g.To))
	}
	for _, e := range sum.Errors {
		res.Errors = append(res.Errors, e.Error())
	}
	return res, nil
}

func (h *Handler) intake(ctx context.Context, payload []byte) (Accepted, error) {
	ev, err := events.Parse(payload)
	if err == nil && ev.Type != events.OnboardingRequested {
		err = fmt.Errorf("type: only %s can be invoked with, got %s", events.OnboardingRequested, ev.Type)
	}
	if err != nil {
		return Accepted{}, fmt.Errorf("invalid onboarding request: %w", err)
	}
	id, err := h.Intake(ctx, ev)
	if err != nil {
		h.log().Error("intake failed", "error", err)
		return Accepted{}, errors.New("the onboarding could not be queued; retry")
	}
	return Accepted{OnboardingID: id, EventID: ev.ID}, nil
}

func (h *Handler) margin() time.Duration {
	if h.Margin > 0 {
		return h.Margin
	}
	return 30 * time.Second
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}
