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
// record by a chosen time nor dead-letter it with a reason. So the router
// settles by publishing (package settle) to SQS, and a record is reported
// as failed only when that publishing failed.
package awslambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/host/cloud"
	"github.com/ctsync/ctsync/pkg/wire"
)

// Handler serves the function's invocations.
type Handler struct {
	*cloud.Host
	// QueuePrefix is the deployment's prefix on the step queues' names.
	QueuePrefix string
	// Margin is the time left before the invocation's deadline under which
	// no further record is started: the rest come back, untouched.
	Margin time.Duration
}

// Invoke is the function's entry point (lambda.Start(h.Invoke)).
func (h *Handler) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	inv, err := wire.ClassifyLambda(payload)
	if err != nil {
		return nil, err
	}
	switch inv.Kind {
	case wire.LambdaSQSBatch:
		return h.Steps(ctx, *inv.Batch), nil
	case wire.LambdaHarvest:
		return h.RunHarvest(ctx)
	case wire.LambdaDrift:
		return h.RunDrift(ctx)
	case wire.LambdaHTTP:
		// The function URL authenticated the caller (IAM) before invoking.
		resp := h.ServeAPI(ctx, *inv.HTTP)
		headers := map[string]string{}
		for name := range resp.Header {
			headers[name] = resp.Header.Get(name)
		}
		return lambdaevents.LambdaFunctionURLResponse{StatusCode: resp.Status, Headers: headers, Body: string(resp.Body)}, nil
	default:
		accepted, err := h.Accept(ctx, payload)
		var invalid *cloud.InvalidRequest
		if errors.As(err, &invalid) {
			return nil, fmt.Errorf("invalid onboarding request: %s", invalid.Problem)
		}
		return accepted, err
	}
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
			h.Logger().Warn("invocation deadline near; handing back the rest of the batch", "records", len(batch.Records)-i)
			for _, rest := range batch.Records[i:] {
				again(rest)
			}
			break
		}
		d, err := h.delivery(r)
		if err != nil {
			h.Logger().Error("record not for this function", "message_id", r.MessageId, "error", err)
			again(r) // the queue's redrive policy moves it aside after maxReceiveCount
			continue
		}
		if err := h.Router.Process(ctx, d); err != nil {
			h.Logger().Error("settling failed; the record comes back", "queue", d.Queue, "message_id", d.ID, "error", err)
			again(r)
		}
	}
	return resp
}

// delivery maps a record to the bus delivery the router expects.
func (h *Handler) delivery(r lambdaevents.SQSMessage) (bus.Delivery, error) {
	m, sent, err := wire.SQSMessage(r, h.QueuePrefix, h.Router.Table.HasQueue)
	if err != nil {
		return bus.Delivery{}, err
	}
	return bus.Delivery{ID: m.ID, Queue: m.Queue, Body: m.Body, DeliveryCount: m.DeliveryCount, LockToken: m.LockToken, EnqueuedAt: sent}, nil
}

func (h *Handler) margin() time.Duration {
	if h.Margin > 0 {
		return h.Margin
	}
	return 30 * time.Second
}
