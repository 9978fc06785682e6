package chain_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/outcome"
)

func TestWaitsAreRequeuedUncountedUntilTheWindowEnds(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	waits := chain.Waits(3*time.Minute, func() time.Time { return now })
	notYet := answering(chain.Outcome{Verdict: chain.Requeue, Delay: 5 * time.Second,
		Wait: &outcome.Wait{After: 5 * time.Second, Op: "GET /jobs/{id}", Reason: "job not readable yet"}}, nil)

	m := message(t, 1)
	o, err := waits(notYet)(context.Background(), m)
	if err != nil || o.Verdict != chain.Requeue || o.Counted || !o.WaitingSince.Equal(now) || o.Delay != 100*time.Millisecond {
		t.Fatalf("first wait: %+v %v", o, err)
	}
	m.WaitingSince = now.Add(-2 * time.Minute)
	if o, err := waits(notYet)(context.Background(), m); err != nil || !o.WaitingSince.Equal(m.WaitingSince) {
		t.Fatalf("a wait keeps when it was first seen: %+v %v", o, err)
	}
	m.WaitingSince = now.Add(-3 * time.Minute)
	_, err = waits(notYet)(context.Background(), m)
	if !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), "job not readable yet") || !strings.Contains(err.Error(), "GET /jobs/{id}") {
		t.Fatalf("a wait past the window: %v", err)
	}
	if o, err := waits(answering(chain.Outcome{Verdict: chain.Ack}, nil))(context.Background(), m); err != nil || o.Verdict != chain.Ack {
		t.Fatalf("other outcomes pass: %+v %v", o, err)
	}
}

// The handler is told whether its wait is over before it answers, so it can
// name a lasting absence (drift) itself; a wait that runs out while the
// handler works is requeued once more, for the handler to decide.
func TestTheHandlerLearnsWhetherItsWaitIsOver(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	waits := chain.Waits(time.Minute, clock)
	var seen outcome.WaitState
	slowNotYet := func(ctx context.Context, _ *chain.Message) (chain.Outcome, error) {
		seen = outcome.WaitStateOf(ctx)
		now = now.Add(2 * time.Second) // the window ends during this call
		return chain.Outcome{Verdict: chain.Requeue, Wait: &outcome.Wait{After: time.Second, Reason: "not yet"}}, nil
	}
	m := message(t, 1)
	if _, err := waits(slowNotYet)(context.Background(), m); err != nil || seen.Over || !seen.Since.IsZero() {
		t.Fatalf("a first call is not waiting: %+v %v", seen, err)
	}
	m.WaitingSince = now.Add(-59 * time.Second)
	o, err := waits(slowNotYet)(context.Background(), m)
	if err != nil || seen.Over || !seen.Since.Equal(m.WaitingSince) || o.Verdict != chain.Requeue {
		t.Fatalf("a wait that ran out during the call is requeued for the handler to decide: %+v %+v %v", seen, o, err)
	}
	drift := func(ctx context.Context, _ *chain.Message) (chain.Outcome, error) {
		if seen = outcome.WaitStateOf(ctx); seen.Over {
			return chain.Outcome{Verdict: chain.Ack, Note: "gone"}, nil
		}
		return chain.Outcome{Verdict: chain.Requeue, Wait: &outcome.Wait{After: time.Second, Reason: "not yet"}}, nil
	}
	if o, err := waits(drift)(context.Background(), m); err != nil || !seen.Over || o.Verdict != chain.Ack {
		t.Fatalf("once over, the handler's own verdict stands: %+v %+v %v", seen, o, err)
	}
}

// Replication is polled soon and often at first, then less and less, never
// beyond the step's ceiling.
func TestReplicationIsPolledSoonAtFirstThenLessOften(t *testing.T) {
	for _, tc := range []struct{ elapsed, most, want time.Duration }{
		{0, 5 * time.Second, 100 * time.Millisecond},
		{4 * time.Second, 5 * time.Second, 100 * time.Millisecond},
		{10 * time.Second, 5 * time.Second, 500 * time.Millisecond},
		{30 * time.Second, 5 * time.Second, 2 * time.Second},
		{2 * time.Minute, 5 * time.Second, 5 * time.Second},
		{0, 50 * time.Millisecond, 50 * time.Millisecond},
	} {
		if got := chain.PollAfter(tc.elapsed, tc.most); got != tc.want {
			t.Errorf("PollAfter(%s, %s) = %s, want %s", tc.elapsed, tc.most, got, tc.want)
		}
	}
}
