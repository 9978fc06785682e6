package chain_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/outcome"
)

func TestLoggingCorrelatesAndLogsAtTheOutcomesLevel(t *testing.T) {
	var logs bytes.Buffer
	logging := chain.Logging(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	m := message(t, 2)
	m.Event.CorrelationID = ""
	cases := []struct {
		o     chain.Outcome
		level string
		msg   string
	}{
		{chain.Outcome{Verdict: chain.Ack, Note: "created partner"}, "INFO", "step done"},
		{chain.Outcome{Verdict: chain.Requeue, Wait: &outcome.Wait{Reason: "replicating"}}, "INFO", "step waiting"},
		{chain.Outcome{Verdict: chain.Requeue, Counted: true, Err: fault.New(fault.Throttled, "op", "429")}, "WARN", "step will be retried"},
		{chain.Outcome{Verdict: chain.DeadLetter, Reason: "denied"}, "ERROR", "step failed; message dead-lettered"},
	}
	for _, c := range cases {
		logs.Reset()
		if _, err := logging(answering(c.o, nil))(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), `"level":"`+c.level+`","msg":"`+c.msg+`"`) {
			t.Errorf("want %s %q, got %s", c.level, c.msg, logs.String())
		}
	}
	// Without a correlation id, the onboarding's id is the correlation.
	if m.Event.CorrelationID != "3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64" || !strings.Contains(logs.String(), `"correlation_id":"3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64"`) {
		t.Fatalf("correlation %q: %s", m.Event.CorrelationID, logs.String())
	}
}
