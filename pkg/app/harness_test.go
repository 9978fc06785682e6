package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

const (
	sourceTenant = "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11"
	targetTenant = "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55"
	adele        = "61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10"
	lee          = "72d3e5f9-801b-4c4d-8e6f-1b3c5d7e9f21"
	megan        = "83e4f6a0-912c-4d5e-9f70-2c4d6e8f0a99"
	salesGroup   = "83e4f6a0-912c-4d5e-9f70-2c4d6e8f0a32"
)

// harness runs ctsync against a fresh emulator with timings shrunk so a
// whole onboarding, with its replication waits, takes a second or two.
type harness struct {
	t   *testing.T
	sim *graphsim.Server
	dir string
	log *logBuffer
	// syncPolicyName is the identity sync policy's expected display name:
	// ctsync names a policy it creates, and keeps the name of one it finds.
	syncPolicyName string
}

func newHarness(t *testing.T, opts graphsim.Options) *harness {
	t.Helper()
	if opts.AppReplicationDelay == 0 {
		opts.AppReplicationDelay = 300 * time.Millisecond
	}
	if opts.JobReplicationDelay == 0 {
		opts.JobReplicationDelay = 200 * time.Millisecond
	}
	if opts.CycleInterval == 0 {
		opts.CycleInterval = 300 * time.Millisecond
	}
	if opts.InitialCycleDelay == 0 {
		opts.InitialCycleDelay = 100 * time.Millisecond
	}
	sim, err := graphsim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.AddTenant(graphsim.TenantSpec{ID: sourceTenant, DisplayName: "Contoso", Domain: "contoso.onmicrosoft.com",
		Users: []graphsim.UserSpec{
			{ID: adele, DisplayName: "Adele Vance", UserPrincipalName: "adele@contoso.com"},
			{ID: lee, DisplayName: "Lee Gu", UserPrincipalName: "lee@contoso.com"},
			{ID: megan, DisplayName: "Megan Bowen", UserPrincipalName: "megan@contoso.com"},
		},
		Groups: []graphsim.GroupSpec{{ID: salesGroup, DisplayName: "Sales", Members: []string{megan}}},
	})
	sim.AddTenant(graphsim.TenantSpec{ID: targetTenant, DisplayName: "Fabrikam", Domain: "fabrikam.onmicrosoft.com"})
	return &harness{t: t, sim: sim, dir: t.TempDir(), log: &logBuffer{}, syncPolicyName: "Contoso to Fabrikam"}
}

func (h *harness) config() Config {
	return Config{
		StateDir: h.dir,
		Graph: graph.Config{AuthorityHost: h.sim.URL, GraphEndpoint: h.sim.URL, ClientID: h.sim.ClientID(),
			ClientSecret: entra.Redacted(h.sim.ClientSecret()), RootCAs: h.sim.CA.Pool()},
		Chain: ChainConfig{
			Steps:          steps.Options{ReplicationWindow: 1500 * time.Millisecond, ReplicationPoll: 50 * time.Millisecond, MonitorInterval: 200 * time.Millisecond, MonitorChecks: 50},
			Policy:         chain.Policy{MaxAttempts: 25, BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
			HandlerTimeout: 1500 * time.Millisecond,
		},
		Workers: 2, Lock: 2 * time.Second, Poll: 20 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (h *harness) open(mutate ...func(*Config)) *Local {
	h.t.Helper()
	cfg := h.config()
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := Open(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { a.Close() })
	return a
}

func pairRequest() onboarding.Request {
	return onboarding.Request{SourceTenantID: sourceTenant, TargetTenantID: targetTenant, Name: "Contoso to Fabrikam",
		Users: []string{adele, lee}, Groups: []string{salesGroup}, RequestedBy: "CHG0042137"}
}

func (h *harness) submit(a *Local, r onboarding.Request) string {
	h.t.Helper()
	id, err := a.Intake.Submit(context.Background(), r)
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// runToEnd runs the host until the onboarding completed or failed.
func (h *harness) runToEnd(a *Local, id string) store.Onboarding {
	h.t.Helper()
	return h.runUntil(a, id, "finished", func(o store.Onboarding) bool { return o.State.Finished() })
}

// runUntil runs the host until the onboarding's record satisfies done.
func (h *harness) runUntil(a *Local, id, what string, done func(store.Onboarding) bool) store.Onboarding {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var last store.Onboarding
	err := a.Host.RunUntil(ctx, func(ctx context.Context) (bool, error) {
		o, _, err := a.Store.GetOnboarding(ctx, id)
		last = o
		return err == nil && done(o), err
	})
	if err != nil {
		h.t.Fatalf("onboarding %s not %s (state %q, step %s: %s; last event %s, job %s): %v", id, what, last.State, last.Step, last.Detail,
			last.LastEvent, last.JobStatus, err)
	}
	return last
}

// steps returns the onboarding's step records.
func (h *harness) steps(a *Local, id string) map[string]store.Step {
	h.t.Helper()
	_, steps, err := a.Store.GetOnboarding(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]store.Step{}
	for _, s := range steps {
		out[s.Name] = s
	}
	return out
}

// assertConfigured checks the tenants hold exactly one of everything the
// onboarding needs.
func (h *harness) assertConfigured() graphsim.ServicePrincipalView {
	h.t.Helper()
	src, dst := h.sim.Tenant(sourceTenant), h.sim.Tenant(targetTenant)
	if len(dst.Partners) != 1 || dst.Partners[0].TenantID != sourceTenant || dst.Partners[0].IdentitySync == nil ||
		!dst.Partners[0].IdentitySync.IsSyncAllowed || dst.Partners[0].InboundAllowed == nil || !*dst.Partners[0].InboundAllowed {
		h.t.Fatalf("target partner configuration: %+v", dst.Partners)
	}
	if dst.Partners[0].IdentitySync.DisplayName != h.syncPolicyName {
		h.t.Errorf("identity sync display name %q", dst.Partners[0].IdentitySync.DisplayName)
	}
	if len(src.Partners) != 1 || src.Partners[0].TenantID != targetTenant || src.Partners[0].OutboundAllowed == nil || !*src.Partners[0].OutboundAllowed {
		h.t.Fatalf("source partner configuration: %+v", src.Partners)
	}
	if len(src.ServicePrincipals) != 1 {
		h.t.Fatalf("want exactly one configuration app, got %d: %+v", len(src.ServicePrincipals), src.ServicePrincipals)
	}
	sp := src.ServicePrincipals[0]
	if sp.TemplateID != entra.CrossTenantSyncTemplateID || sp.DisplayName != "Contoso to Fabrikam" {
		h.t.Errorf("configuration app %+v", sp)
	}
	if len(sp.Jobs) != 1 || sp.Jobs[0].TemplateID != "Azure2Azure" || sp.Jobs[0].ScheduleState != "Active" {
		h.t.Fatalf("want one started Azure2Azure job, got %+v", sp.Jobs)
	}
	if sp.Secrets["CompanyId"] != targetTenant || sp.Secrets["AuthenticationType"] != "SyncPolicy" || sp.Secrets["SyncAll"] != "false" ||
		!strings.Contains(sp.Secrets["SyncNotificationSettings"], `"Enabled":false`) {
		h.t.Errorf("secrets %+v", sp.Secrets)
	}
	var principals []string
	for _, a := range sp.Assignments {
		principals = append(principals, a.PrincipalID)
	}
	if strings.Join(principals, ",") != strings.Join([]string{adele, lee, salesGroup}, ",") {
		h.t.Errorf("assignments %v", principals)
	}
	if n := countCreated(h.sim, "/instantiate"); n != 1 {
		h.t.Errorf("instantiate created %d apps", n)
	}
	if n := countCreated(h.sim, "/synchronization/jobs"); n != 1 {
		h.t.Errorf("job create made %d jobs", n)
	}
	return sp
}

// countCreated counts POSTs to paths ending in suffix that answered 201.
func countCreated(sim *graphsim.Server, suffix string) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Method == "POST" && r.Status == 201 && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// logBuffer collects JSON log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
