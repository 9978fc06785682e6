package chain_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/fault"
)

func TestATenantOutsideTheAllowListStopsTheMessageBeforeItsHandler(t *testing.T) {
	m := message(t, 1)
	in, _ := events.OnboardingOf(m.Event)
	ran := false
	handler := func(context.Context, *chain.Message) (chain.Outcome, error) {
		ran = true
		return chain.Outcome{Verdict: chain.Ack}, nil
	}
	touched := func(m *chain.Message) []string { return events.TenantsOf(m.Event) }

	onlyTarget := chain.AllowedTenants(func(id string) bool { return id == in.TargetTenantID }, touched)
	_, err := onlyTarget(handler)(context.Background(), m)
	if ran || !fault.Is(err, fault.Denied) || !strings.Contains(err.Error(), in.SourceTenantID) || !strings.Contains(err.Error(), "CTSYNC_ALLOWED_TENANTS") {
		t.Fatalf("ran=%v err=%v", ran, err)
	}
	both := chain.AllowedTenants(func(string) bool { return true }, touched)
	if o, err := both(handler)(context.Background(), m); !ran || err != nil || o.Verdict != chain.Ack {
		t.Fatalf("an allowed pair: ran=%v %+v %v", ran, o, err)
	}
	ran = false
	nothingTouched := chain.AllowedTenants(func(string) bool { return false }, func(*chain.Message) []string { return nil })
	if _, err := nothingTouched(handler)(context.Background(), m); !ran || err != nil {
		t.Fatalf("a message touching no tenant (an alert) must pass: ran=%v %v", ran, err)
	}
}
