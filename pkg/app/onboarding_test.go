package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
)

func TestFullOnboardingAgainstTheEmulator(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	id := h.submit(a, pairRequest())
	o := h.runToEnd(a, id)
	if o.State != store.StateCompleted {
		t.Fatalf("onboarding ended %s at %s: %s (%s)", o.State, o.Step, o.Detail, o.Remedy)
	}
	sp := h.assertConfigured()
	if o.ServicePrincipalID != sp.ID || o.JobID != sp.Jobs[0].ID || o.AppRoleID == "" {
		t.Errorf("progress did not record the ids: %+v", o)
	}
	// Provisioned on demand: the first user exists in the target as a B2B member.
	var synced []string
	for _, u := range h.sim.Tenant(targetTenant).Users {
		if u.ExternalTenant == sourceTenant {
			synced = append(synced, u.ExternalUser)
		}
	}
	if len(synced) == 0 || synced[0] != adele && !contains(synced, adele) {
		t.Errorf("first user not provisioned on demand: %v", synced)
	}
	// Every step of the chain ran, in the article's order: each step's
	// record is first written when it first settles.
	_, steps, err := a.Store.GetOnboarding(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var ran []string
	for _, s := range steps {
		if s.Name != "monitor-job" {
			ran = append(ran, s.Name)
		}
		if s.Name != "monitor-job" && s.State != store.StepDone {
			t.Errorf("step %s recorded as %s", s.Name, s.State)
		}
	}
	var want []string
	for _, s := range onboarding.Steps() {
		want = append(want, s.Name)
	}
	if strings.Join(ran, " ") != strings.Join(want, " ") {
		t.Errorf("steps ran as\n %s\nwant\n %s", strings.Join(ran, " "), strings.Join(want, " "))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestRerunningAFinishedOnboardingMakesNoWrites(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	if o := h.runToEnd(a, h.submit(a, pairRequest())); o.State != store.StateCompleted {
		t.Fatalf("first run: %+v", o)
	}
	writes := h.sim.Writes("")
	o := h.runToEnd(a, h.submit(a, pairRequest()))
	if o.State != store.StateCompleted {
		t.Fatalf("second run: %s at %s: %s", o.State, o.Step, o.Detail)
	}
	if extra := h.sim.Writes("") - writes; extra != 0 {
		var seen []string
		for _, r := range h.sim.Requests()[len(h.sim.Requests())-40:] {
			if r.Method != "GET" && r.Version != "" {
				seen = append(seen, r.Method+" "+r.Path)
			}
		}
		t.Fatalf("re-run made %d writes: %v", extra, seen)
	}
	h.assertConfigured()
}

// duplicatingBus delivers every message twice: after the original is
// acknowledged, an identical copy is queued, as a queue with at-least-once
// delivery may do at any step.
type duplicatingBus struct {
	*bus.Embedded
}

func (d duplicatingBus) Ack(ctx context.Context, m bus.Delivery, produced ...bus.Outgoing) error {
	if err := d.Embedded.Ack(ctx, m, produced...); err != nil {
		return err
	}
	if strings.HasSuffix(m.ID, "#redelivered") {
		return nil
	}
	return d.Embedded.Publish(ctx, bus.Outgoing{ID: m.ID + "#redelivered", Queue: m.Queue, Body: m.Body})
}

// The router drops a message it handled before (dedup.go), but a crash
// between publishing a step's products and recording the message as handled
// runs the step again; so every step must be harmless to repeat. This test
// runs without de-duplication to show it.
func TestARedeliveredMessageAtEveryStepCreatesNothingTwice(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	a.Router.Settler, a.Router.Atomic = duplicatingBus{a.Bus}, nil
	a.Router.Middleware = a.Stack().Middleware()
	id := h.submit(a, pairRequest())
	if o := h.runToEnd(a, id); o.State != store.StateCompleted {
		t.Fatalf("%s at %s: %s", o.State, o.Step, o.Detail)
	}
	// Let the copies of the last steps run too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Host.Drain(ctx, 0); err != nil {
		t.Fatal(err)
	}
	recorded := h.steps(a, id)
	for _, s := range onboarding.Steps() {
		if runs := recorded[s.Name].Runs; runs < 2 {
			t.Errorf("step %s ran %d time(s); the test needs it to handle a redelivery", s.Name, runs)
		}
	}
	h.assertConfigured()
	if n := h.sim.CountRequests("POST", "/policies/crossTenantAccessPolicy/partners", ""); n != 2 {
		t.Errorf("partner POSTs: %d, want one per tenant", n)
	}
	if n := h.sim.CountRequests("PUT", "/identitySynchronization", ""); n != 1 {
		t.Errorf("identity sync PUTs: %d", n)
	}
}
