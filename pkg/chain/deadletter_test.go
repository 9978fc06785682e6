package chain_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/fault"
)

func TestDeadLettersSayWhatWentWrongAndWhatToFix(t *testing.T) {
	var alerted []chain.Failure
	dl := chain.DeadLetters(func(m *chain.Message, f chain.Failure) []events.Event {
		alerted = append(alerted, f)
		return []events.Event{events.MustNew(events.StepFailed, events.StepFailure{})}
	})
	denied := &fault.Error{Kind: fault.Denied, Op: "POST /partners", Tenant: "t", Status: 403, Code: "Authorization_RequestDenied",
		Message: "Insufficient privileges to complete the operation.", Remedy: "grant Policy.ReadWrite.CrossTenantAccess"}
	o, err := dl(answering(chain.Outcome{}, denied))(context.Background(), message(t, 1))
	if err != nil || o.Verdict != chain.DeadLetter || o.Reason != "denied: Authorization_RequestDenied" ||
		!strings.Contains(o.Description, "Insufficient privileges") || o.Remedy != "grant Policy.ReadWrite.CrossTenantAccess" || len(o.Alerts) != 1 {
		t.Fatalf("denied: %+v %v", o, err)
	}
	o, _ = dl(answering(chain.Outcome{}, fault.New(fault.Transient, "op", "503")))(context.Background(), message(t, 15))
	if !strings.HasPrefix(o.Description, "gave up after 15 attempts: ") || alerted[1].Attempts != 15 || alerted[1].Kind != fault.Transient {
		t.Fatalf("retryable given up: %+v %+v", o, alerted)
	}
	if o, err := dl(answering(chain.Outcome{Verdict: chain.Ack}, nil))(context.Background(), message(t, 1)); err != nil || o.Verdict != chain.Ack {
		t.Fatalf("success passes: %+v %v", o, err)
	}
}
