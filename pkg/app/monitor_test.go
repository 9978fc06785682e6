package app

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/store"
)

func TestTheMonitorFollowsTheJobToSteadyState(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	var checks int
	a.Runner.Observe(func(r chain.Report) {
		if r.Step == "monitor-job" && r.Outcome == "done" {
			checks++
		}
	})
	id := h.submit(a, pairRequest())
	steady := a.Watch(id, events.SyncSteady)
	h.runToEnd(a, id)
	o := h.runWatch(steady, id)
	if !strings.HasPrefix(o.JobStatus, "Active") {
		t.Fatalf("job status %q", o.JobStatus)
	}
	if checks < 1 {
		t.Fatal("the monitor never ran")
	}
	// Steady state ends monitoring: nothing stays scheduled.
	if d, _ := a.Bus.Depth(context.Background()); d.Scheduled != 0 {
		t.Fatalf("monitor still scheduled after steady state: %+v", d)
	}
	if !strings.Contains(h.log.String(), `"alert_type":"sync.steady"`) {
		t.Error("sync.steady was not delivered")
	}
}

func TestQuarantineRaisesAnAlertAtTheNextCheckWithTheRemedy(t *testing.T) {
	h := newHarness(t, graphsim.Options{CycleInterval: time.Hour, InitialCycleDelay: time.Hour})
	a := h.open()
	var checksAfter atomic.Int32
	var quarantined atomic.Bool
	a.Runner.Observe(func(r chain.Report) {
		if r.Step == "monitor-job" && r.Outcome == "done" && quarantined.Load() {
			checksAfter.Add(1)
		}
	})
	id := h.submit(a, pairRequest())
	if o := h.runToEnd(a, id); o.State != store.StateCompleted {
		t.Fatalf("%+v", o)
	}
	// The job never settles on its own (cycles an hour apart), so the
	// monitor keeps checking; then Entra quarantines it.
	h.sim.QuarantineJobs(sourceTenant, "EncounteredQuarantineException", "AzureDirectoryB2BManagementPolicyCheckFailure",
		"Policy permitting auto-redemption of invitations not configured.")
	quarantined.Store(true)
	o := h.runWatch(a.Watch(id, events.SyncQuarantined), id)
	if n := checksAfter.Load(); n != 1 {
		t.Fatalf("the alert came after %d monitor checks; want the first check after quarantine", n)
	}
	if !strings.HasPrefix(o.JobStatus, "Quarantine") {
		t.Errorf("job status %q", o.JobStatus)
	}
	drain(t, a)
	logs := h.log.String()
	for _, want := range []string{`"alert_type":"sync.quarantined"`, `EncounteredQuarantineException`, `restart the job with resetScope QuarantineState`,
		`AzureDirectoryB2BManagementPolicyCheckFailure`} {
		if !strings.Contains(logs, want) {
			t.Errorf("alert lacks %s", want)
		}
	}
	if n := strings.Count(logs, `"alert_type":"sync.quarantined"`); n != 1 {
		t.Errorf("want one quarantine alert per quarantine, got %d", n)
	}
}

// runWatch runs the host until w saw its event.
func (h *harness) runWatch(w *Watch, id string) store.Onboarding {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := w.Run(ctx); err != nil {
		o, _, _ := w.a.Store.GetOnboarding(context.Background(), id)
		h.t.Fatalf("event not produced (last event %s, job %s): %v", o.LastEvent, o.JobStatus, err)
	}
	o, _, err := w.a.Store.GetOnboarding(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}
