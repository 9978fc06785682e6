package chain_test

import (
	"context"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/fault"
)

func TestPolicyDelaysGrowWithJitterAndRetryAfterWins(t *testing.T) {
	p := chain.Policy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 400 * time.Millisecond}
	for attempt, max := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 9: 400 * time.Millisecond} {
		for i := 0; i < 20; i++ {
			if d := p.Delay(attempt, 0); d < max/2 || d > max {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, max/2, max)
			}
		}
	}
	if d := p.Delay(1, 3*time.Second); d != 3*time.Second {
		t.Fatalf("Retry-After ignored: %s", d)
	}
}

func TestRetryRequeuesWhatMayPassUntilTheLastAttempt(t *testing.T) {
	retry := chain.Retry(chain.Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	throttled := &fault.Error{Kind: fault.Throttled, Op: "GET /x", Message: "slow down", RetryAfter: 700 * time.Millisecond}

	o, err := retry(answering(chain.Outcome{}, throttled))(context.Background(), message(t, 2))
	if err != nil || o.Verdict != chain.Requeue || !o.Counted || o.Delay != 700*time.Millisecond || o.Err != throttled {
		t.Fatalf("throttled at attempt 2: %+v %v", o, err)
	}
	if _, err := retry(answering(chain.Outcome{}, throttled))(context.Background(), message(t, 3)); err != throttled {
		t.Fatalf("the last attempt must go on to the dead-letter middleware, got %v", err)
	}
	for _, kind := range []fault.Kind{fault.Denied, fault.Invalid, fault.NotFound} {
		if _, err := retry(answering(chain.Outcome{}, fault.New(kind, "op", "no")))(context.Background(), message(t, 1)); !fault.Is(err, kind) {
			t.Fatalf("%s was retried: %v", kind, err)
		}
	}
	if o, err := retry(answering(chain.Outcome{}, fault.New(fault.Conflict, "op", "exists")))(context.Background(), message(t, 1)); err != nil || o.Verdict != chain.Requeue {
		t.Fatalf("a conflict is observed again: %+v %v", o, err)
	}
}

func TestRetryHandsBackWorkInterruptedByShutdownWithoutCounting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o, err := chain.Retry(chain.Policy{MaxAttempts: 1})(answering(chain.Outcome{}, context.Canceled))(ctx, message(t, 1))
	if err != nil || o.Verdict != chain.Requeue || o.Counted || !o.Interrupted || o.Delay != 0 {
		t.Fatalf("got %+v %v", o, err)
	}
}
