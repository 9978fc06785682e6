package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/store"
)

func TestTheMonitorFollowsTheJobToSteadyState(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	id := h.submit(a, pairRequest())
	h.runToEnd(a, id)
	o := h.runUntil(a, id, "steady", func(o store.Onboarding) bool { return o.SyncState == store.SyncSteady })
	if !strings.HasPrefix(o.JobStatus, "Active") || o.LastEvent != string(events.SyncSteady) {
		t.Fatalf("job status %q, last event %s", o.JobStatus, o.LastEvent)
	}
	if h.steps(a, id)["monitor-job"].Runs < 1 {
		t.Fatal("the monitor never ran")
	}
	// Steady state ends monitoring: once the alert is delivered, nothing
	// stays scheduled.
	drain(t, a)
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
	id := h.submit(a, pairRequest())
	if o := h.runToEnd(a, id); o.State != store.StateCompleted {
		t.Fatalf("%+v", o)
	}
	// The job never settles on its own (cycles an hour apart), so the
	// monitor keeps checking; then Entra quarantines it.
	h.sim.QuarantineJobs(sourceTenant, "EncounteredQuarantineException", "AzureDirectoryB2BManagementPolicyCheckFailure",
		"Policy permitting auto-redemption of invitations not configured.")
	before := h.steps(a, id)["monitor-job"].Runs
	o := h.runUntil(a, id, "quarantined", func(o store.Onboarding) bool { return o.SyncState == store.SyncQuarantined })
	if n := h.steps(a, id)["monitor-job"].Runs - before; n != 1 {
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

// A job read before and gone for longer than the replication window was
// deleted outside ctsync: that is drift, raised as drift.detected and shown
// in the onboarding's record — not a replication wait that never ends, and
// not a dead letter.
func TestAJobDeletedOutsideCtsyncIsDrift(t *testing.T) {
	h := newHarness(t, graphsim.Options{CycleInterval: time.Hour, InitialCycleDelay: time.Hour})
	a := h.open()
	id := h.submit(a, pairRequest())
	if o := h.runToEnd(a, id); o.State != store.StateCompleted {
		t.Fatalf("%+v", o)
	}
	if n := h.sim.DeleteJobs(sourceTenant); n != 1 {
		t.Fatalf("deleted %d jobs", n)
	}
	o := h.runUntil(a, id, "drifted", func(o store.Onboarding) bool { return o.SyncState == store.SyncDrifted })
	if o.State != store.StateCompleted || o.JobStatus != "deleted outside ctsync" || !strings.Contains(o.Drift, "job deleted outside ctsync") {
		t.Fatalf("record: state %s, job %q, drift %q", o.State, o.JobStatus, o.Drift)
	}
	if !strings.Contains(o.Remedy, "ctsync onboard") {
		t.Errorf("remedy %q", o.Remedy)
	}
	drain(t, a)
	d, err := a.Bus.Depth(context.Background())
	if err != nil || d.Dead != 0 || d.Scheduled != 0 {
		t.Fatalf("after drift: %+v %v (no dead letter, monitoring over)", d, err)
	}
	logs := h.log.String()
	if n := strings.Count(logs, `"alert_type":"drift.detected"`); n != 1 {
		t.Fatalf("want one drift.detected alert, got %d", n)
	}
	for _, want := range []string{`\"setting\":\"synchronizationJob\"`, `\"expected\":\"job Azure2Azure.`, `\"sourceTenantId\":\"` + sourceTenant} {
		if !strings.Contains(logs, want) {
			t.Errorf("the drift alert lacks %s", want)
		}
	}
}
