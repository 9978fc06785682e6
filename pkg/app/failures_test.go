package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
)

// requestsOf lists "METHOD status" for Graph requests whose path ends with suffix.
func requestsOf(sim *graphsim.Server, suffix string) []string {
	var out []string
	for _, r := range sim.Requests() {
		if r.Version != "" && strings.HasSuffix(r.Path, suffix) {
			out = append(out, fmt.Sprintf("%s %d", r.Method, r.Status))
		}
	}
	return out
}

func TestIdentitySyncConflictOnPutIsReadAndPatched(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	// The policy exists but does not allow sync, and the first read misses it
	// (as a lagging replica would): the PUT then conflicts.
	seedPartnerWithSyncPolicy(t, h, false)
	h.sim.Inject(graphsim.Fault{Method: "GET", PathContains: "/identitySynchronization", Times: 1, Status: 404, Code: "Request_ResourceNotFound"})
	if o := h.runToEnd(a, h.submit(a, pairRequest())); o.State != store.StateCompleted {
		t.Fatalf("%s at %s: %s", o.State, o.Step, o.Detail)
	}
	got := strings.Join(requestsOf(h.sim, "/identitySynchronization"), ", ")
	if !strings.Contains(got, "GET 404, PUT 409, GET 200, PATCH 204") {
		t.Fatalf("identity sync requests: %s", got)
	}
	h.assertConfigured()
}

func TestIdentitySyncObjectNotFoundOnPatchIsCreated(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	seedPartnerWithSyncPolicy(t, h, false)
	h.sim.Inject(graphsim.Fault{Method: "PATCH", PathContains: "/identitySynchronization", Times: 1, Status: 404, Code: "Directory_ObjectNotFound"})
	if o := h.runToEnd(a, h.submit(a, pairRequest())); o.State != store.StateCompleted {
		t.Fatalf("%s at %s: %s", o.State, o.Step, o.Detail)
	}
	got := strings.Join(requestsOf(h.sim, "/identitySynchronization"), ", ")
	if !strings.Contains(got, "GET 200, PATCH 404, PUT 409, GET 200, PATCH 204") {
		t.Fatalf("identity sync requests: %s", got)
	}
	h.assertConfigured()
}

func TestPartnerConflictOnCreateIsRead(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	seedPartnerWithSyncPolicy(t, h, true)
	h.sim.Inject(graphsim.Fault{Method: "GET", PathContains: "/partners/" + sourceTenant, Times: 1, Status: 404, Code: "Request_ResourceNotFound"})
	if o := h.runToEnd(a, h.submit(a, pairRequest())); o.State != store.StateCompleted {
		t.Fatalf("%s at %s: %s", o.State, o.Step, o.Detail)
	}
	// The seed created the target's partner; ctsync's own create conflicts.
	if got := strings.Join(requestsOf(h.sim, "/crossTenantAccessPolicy/partners"), ", "); got != "POST 201, POST 409, POST 201" {
		t.Fatalf("partner creates: %s", got)
	}
	h.assertConfigured()
}

func TestPartnerMissingOnUpdateIsCreatedAndUpdated(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	h.sim.Inject(graphsim.Fault{Method: "PATCH", PathContains: "/partners/" + targetTenant, Times: 1, Status: 404, Code: "Directory_ObjectNotFound"})
	if o := h.runToEnd(a, h.submit(a, pairRequest())); o.State != store.StateCompleted {
		t.Fatalf("%s at %s: %s", o.State, o.Step, o.Detail)
	}
	got := strings.Join(requestsOf(h.sim, "/partners/"+targetTenant), ", ")
	if !strings.Contains(got, "PATCH 404, GET 200, PATCH 204") {
		t.Fatalf("source partner requests: %s", got)
	}
	h.assertConfigured()
}

// seedPartnerWithSyncPolicy prepares the target as an admin might have left
// it: the partner exists, and so does a sync policy.
func seedPartnerWithSyncPolicy(t *testing.T, h *harness, allowed bool) {
	t.Helper()
	cfg := h.config()
	a, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dir, err := a.Graph.Tenant(context.Background(), targetTenant)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h.syncPolicyName = "set by hand"
	if _, err := dir.CreatePartner(ctx, sourceTenant); err != nil {
		t.Fatal(err)
	}
	if err := dir.CreateIdentitySync(ctx, sourceTenant, entra.IdentitySync{DisplayName: "set by hand", SyncAllowed: allowed}); err != nil {
		t.Fatal(err)
	}
}

func TestThrottledCreateWaitsForRetryAfter(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	h.sim.Inject(graphsim.Fault{Method: "POST", PathContains: "/instantiate", Times: 1, Status: 429, RetryAfter: "1.5"})
	if o := h.runToEnd(a, h.submit(a, pairRequest())); o.State != store.StateCompleted {
		t.Fatalf("%s at %s: %s", o.State, o.Step, o.Detail)
	}
	var times []time.Time
	for _, r := range h.sim.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/instantiate") {
			times = append(times, r.Time)
		}
	}
	if len(times) != 2 {
		t.Fatalf("want the throttled instantiate and one retry, got %d calls", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < 1500*time.Millisecond {
		t.Fatalf("retried %s after a 429 asking for 1.5 s", gap)
	}
	h.assertConfigured()
}

func TestDeniedIsDeadLetteredAtOnceWithWhatToGrant(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	h.sim.Revoke(targetTenant, "Policy.ReadWrite.CrossTenantAccess")
	id := h.submit(a, pairRequest())
	o := h.runToEnd(a, id)
	if o.State != store.StateFailed || o.Step != "ensure-target-partner" {
		t.Fatalf("want failed at ensure-target-partner, got %s at %s", o.State, o.Step)
	}
	for _, want := range []string{"Policy.ReadWrite.CrossTenantAccess", "Security Administrator", targetTenant, "admin consent"} {
		if !strings.Contains(o.Remedy, want) {
			t.Errorf("remedy %q does not mention %q", o.Remedy, want)
		}
	}
	if n := h.sim.CountRequests("POST", "/partners", targetTenant); n != 1 {
		t.Errorf("a denial must not be retried; POST sent %d times", n)
	}
	dls, err := a.Bus.DeadLetters(context.Background())
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %+v %v", dls, err)
	}
	dl := dls[0]
	if dl.Reason != "denied: Authorization_RequestDenied" || !strings.Contains(dl.Description, "Insufficient privileges") || dl.DeliveryCount != 1 {
		t.Errorf("dead letter %+v", dl)
	}
	if strings.Contains(dl.Description+string(dl.Body), h.sim.ClientSecret()) {
		t.Error("the client secret leaked into the dead letter")
	}
	// The step.failed alert went out and was delivered to the notifier.
	drain(t, a)
	if !strings.Contains(h.log.String(), `"alert_type":"step.failed"`) {
		t.Error("no step.failed alert was logged")
	}
	if strings.Contains(h.log.String(), h.sim.ClientSecret()) {
		t.Error("the client secret leaked into the logs")
	}
	// The administrator grants the permission; replaying the dead letter
	// finishes the onboarding.
	h.sim.Grant(targetTenant, "Policy.ReadWrite.CrossTenantAccess")
	if err := onboarding.Replay(context.Background(), a.Bus, a.Store, dl); err != nil {
		t.Fatal(err)
	}
	if o := h.runToEnd(a, id); o.State != store.StateCompleted {
		t.Fatalf("after the fix and a replay: %s at %s: %s", o.State, o.Step, o.Detail)
	}
	h.assertConfigured()
}

func drain(t *testing.T, a *Local) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Host.Drain(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedAndInvalidEventsAreDeadLetteredWithTheField(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	example, err := os.ReadFile(filepath.Join("..", "..", "events", "examples", "onboarding.requested.json"))
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(fn func(ev, data map[string]any)) []byte {
		var ev map[string]any
		_ = json.Unmarshal(example, &ev)
		fn(ev, ev["data"].(map[string]any))
		b, _ := json.Marshal(ev)
		return b
	}
	cases := map[string][]byte{
		"event":                  []byte(`{"this is": not json`),
		"data.sourceTenantId":    mutate(func(ev, d map[string]any) { d["sourceTenantId"] = "contoso.onmicrosoft.com" }),
		"data.users[0]":          mutate(func(ev, d map[string]any) { d["users"] = []any{"not-a-guid"} }),
		"data.targetTenantId":    mutate(func(ev, d map[string]any) { delete(d, "targetTenantId") }),
		"type":                   mutate(func(ev, d map[string]any) { ev["type"] = "onboarding.teleported" }),
		"data.configurationName": mutate(func(ev, d map[string]any) { d["configurationName"] = "" }),
		"data":                   mutate(func(ev, d map[string]any) { ev["data"] = []any{1, 2} }),
	}
	i := 0
	for _, body := range cases {
		i++
		if err := a.Bus.Publish(context.Background(), bus.Outgoing{ID: fmt.Sprintf("bad-%d", i), Queue: "ensure-target-partner", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, a)
	dls, err := a.Bus.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != len(cases) {
		t.Fatalf("want %d dead letters, got %d", len(cases), len(dls))
	}
	for field := range cases {
		found := false
		for _, dl := range dls {
			if dl.Reason == "InvalidEvent" && strings.Contains(dl.Description, "invalid event: "+field+":") {
				found = true
			}
		}
		if !found {
			t.Errorf("no dead letter names %s", field)
		}
	}
	if h.sim.Writes("") != 0 || strings.Contains(h.log.String(), "panicked") {
		t.Error("a malformed event reached Graph or made a handler panic")
	}
	// The onboarding the invalid users event belongs to shows why it stopped.
	var ev struct {
		Data events.Onboarding `json:"data"`
	}
	_ = json.Unmarshal(example, &ev)
	o, _, err := a.Store.GetOnboarding(context.Background(), ev.Data.OnboardingID)
	if err != nil || o.State != store.StateFailed || !strings.Contains(o.Detail, "invalid event") {
		t.Errorf("onboarding record %+v %v", o, err)
	}
}

// Before the first write, ctsync signs in to both tenants: a source tenant
// that does not exist stops the onboarding with nothing written anywhere,
// and the dead letter names the tenant.
func TestAnUnknownSourceTenantWritesNothingAndIsDeadLetteredByName(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	const unknown = "4d1e0f2a-6b7c-4d8e-9f01-23456789abcd"
	req := pairRequest()
	req.SourceTenantID = unknown
	id := h.submit(a, req)
	o := h.runToEnd(a, id)
	if o.State != store.StateFailed || o.Step != "ensure-target-partner" {
		t.Fatalf("want failed at ensure-target-partner, got %s at %s: %s", o.State, o.Step, o.Detail)
	}
	if n := h.sim.Writes(""); n != 0 {
		t.Fatalf("%d Graph writes happened before the unknown tenant was noticed", n)
	}
	if !strings.Contains(o.Remedy, unknown) || !strings.Contains(o.Remedy, "does not exist") {
		t.Errorf("remedy %q does not name the tenant", o.Remedy)
	}
	dls, err := a.Bus.DeadLetters(context.Background())
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %+v %v", dls, err)
	}
	if dl := dls[0]; !strings.Contains(dl.Reason, "AADSTS90002") || !strings.Contains(dl.Description, unknown) || dl.DeliveryCount != 1 {
		t.Errorf("dead letter %+v", dl)
	}
}

// A tenant where the ctsync application was never consented is found the
// same way, before the other tenant is touched, and the remedy says so.
func TestASourceTenantWithoutConsentWritesNothing(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	a := h.open()
	h.sim.SetConsented(sourceTenant, false)
	o := h.runToEnd(a, h.submit(a, pairRequest()))
	if o.State != store.StateFailed {
		t.Fatalf("want failed, got %s at %s", o.State, o.Step)
	}
	if n := h.sim.Writes(""); n != 0 {
		t.Fatalf("%d Graph writes happened before the missing consent was noticed", n)
	}
	if !strings.Contains(o.Remedy, sourceTenant) || !strings.Contains(o.Remedy, "admin consent") {
		t.Errorf("remedy %q", o.Remedy)
	}
}

// An event that reached a queue without the intake's check (posted to the
// queue directly, or queued before the allow-list was narrowed) naming a
// tenant outside the allow-list is dead-lettered before any Graph call.
func TestAQueuedEventNamingATenantOutsideTheAllowListIsDeadLetteredUntouched(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	allowed, err := onboarding.ParseTenants(targetTenant, "test")
	if err != nil {
		t.Fatal(err)
	}
	a := h.open(func(c *Config) { c.Chain.Tenants = allowed })
	ev, err := events.New(events.OnboardingRequested, events.Onboarding{OnboardingID: "3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64",
		SourceTenantID: sourceTenant, TargetTenantID: targetTenant, ConfigurationName: "Contoso to Fabrikam", Users: []string{adele}})
	if err != nil {
		t.Fatal(err)
	}
	ev.Stamp("/test", "3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64", "3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64", time.Now())
	out, err := a.Table.Outgoing(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Bus.Publish(context.Background(), out...); err != nil {
		t.Fatal(err)
	}
	drain(t, a)
	dls, err := a.Bus.DeadLetters(context.Background())
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %+v %v", dls, err)
	}
	if dl := dls[0]; !strings.Contains(dl.Reason, "TenantNotAllowed") || !strings.Contains(dl.Description, sourceTenant) {
		t.Errorf("dead letter %+v", dl)
	}
	if n := len(h.sim.Requests()); n != 0 {
		t.Fatalf("%d requests reached Graph or the login service", n)
	}
	// The intake refuses it outright.
	if _, err := a.Intake.Submit(context.Background(), pairRequest()); err == nil || !strings.Contains(err.Error(), sourceTenant) {
		t.Fatalf("intake: %v", err)
	}
}
