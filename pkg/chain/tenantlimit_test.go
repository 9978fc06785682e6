package chain_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
)

// No more than the cap run at once against a tenant; the rest are handed
// back, uncounted, for later, and a free tenant's work goes on meanwhile.
func TestATenantAtItsCapDefersTheRestAndOthersGoOn(t *testing.T) {
	limit := chain.TenantLimit(2, func(m *chain.Message) []string { return events.TenantsOf(m.Event) })
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	blocking := limit(func(ctx context.Context, m *chain.Message) (chain.Outcome, error) {
		started <- struct{}{}
		<-release
		return chain.Outcome{Verdict: chain.Ack}, nil
	})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = blocking(context.Background(), message(t, 1)) }()
	}
	<-started
	<-started
	o, err := blocking(context.Background(), message(t, 3))
	if err != nil || o.Verdict != chain.Requeue || !o.Deferred || o.Counted || o.Delay <= 0 {
		t.Fatalf("a third message for the same tenants: %+v %v", o, err)
	}
	other := message(t, 1)
	other.Event = example(t, events.StepFailed) // names the same pair, but an alert touches no tenant here
	free := chain.TenantLimit(2, func(*chain.Message) []string { return []string{"another-tenant"} })
	if o, err := free(func(context.Context, *chain.Message) (chain.Outcome, error) {
		return chain.Outcome{Verdict: chain.Ack}, nil
	})(context.Background(), other); err != nil || o.Verdict != chain.Ack {
		t.Fatalf("another tenant's work: %+v %v", o, err)
	}
	close(release)
	wg.Wait()
	if o, _ := blocking(context.Background(), message(t, 1)); o.Verdict != chain.Ack {
		t.Fatalf("once the others finished: %+v", o)
	}
}
