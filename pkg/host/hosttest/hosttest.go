// Package hosttest holds what the cloud hosts' tests share: an emulator with
// the sample tenants, a chain wired to it with short waits (on the embedded
// queue, which stands in for Service Bus and SQS), the cloud host's shared
// half on top of it, and a valid onboarding request for them.
package hosttest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/host/cloud"
	"github.com/ctsync/ctsync/pkg/host/settle"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

// StartSim starts the emulator with the sample tenants and short replication.
func StartSim(t *testing.T) *graphsim.Server {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Options{AppReplicationDelay: 100 * time.Millisecond, JobReplicationDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.AddSampleTenants()
	return sim
}

// Open wires the chain to sim with a fresh state directory and fast retries.
func Open(t *testing.T, sim *graphsim.Server, mutate ...func(*app.Config)) *app.Local {
	t.Helper()
	cfg := app.Config{StateDir: t.TempDir(),
		Graph: graph.Config{AuthorityHost: sim.URL, GraphEndpoint: sim.URL, ClientID: sim.ClientID(),
			ClientSecret: entra.Redacted(sim.ClientSecret()), RootCAs: sim.CA.Pool()},
		Chain: app.ChainConfig{
			Steps:  steps.Options{ReplicationWindow: time.Second, ReplicationPoll: 50 * time.Millisecond, MonitorInterval: 100 * time.Millisecond},
			Policy: chain.Policy{MaxAttempts: 30, BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
		}}
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := app.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// CloudHost is the cloud hosts' shared half over a's chain and store: a
// router that settles by publishing to out (a's queue, as a stand-in for
// the cloud's), an intake and a harvester publishing there too.
func CloudHost(a *app.Local, out bus.Publisher, apiBasePath string) *cloud.Host {
	intake := a.Chain.Intake(out, a.Store)
	return &cloud.Host{
		Router:  a.Chain.Router(settle.Publishing{Out: out}, a.Store),
		Harvest: a.Chain.Harvester(a.Store, out, nil, harvest.Options{Budget: harvest.NewBudget(0, 0)}).Run,
		Drift:   a.Chain.Drift(a.Store, out).Run,
		Intake:  intake.Accept,
		API:     (&api.Server{Intake: intake, Store: a.Store, BasePath: apiBasePath}).Handler(),
	}
}

// FirstQueue is the queue the chain table sends onboarding requests to.
func FirstQueue(t *testing.T, a *app.Local) string {
	t.Helper()
	q, ok := a.Table.QueueFor(events.OnboardingRequested)
	if !ok {
		t.Fatal("the table routes no onboarding.requested")
	}
	return q
}

// OnboardingRequest is the documented example event, for a sample user and
// group of the emulator's source tenant.
func OnboardingRequest(t *testing.T) []byte {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", "events", "examples", "onboarding.requested.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["data"].(map[string]any)["users"] = []string{graphsim.SampleUsers[0].ID}
	ev["data"].(map[string]any)["groups"] = []string{graphsim.SampleGroup}
	out, _ := json.Marshal(ev)
	return out
}

// Parse parses a valid event.
func Parse(t *testing.T, raw []byte) events.Event {
	t.Helper()
	ev, err := events.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// OnboardingID is the onboarding id of a valid onboarding.requested event.
func OnboardingID(t *testing.T, raw []byte) string {
	t.Helper()
	var o events.Onboarding
	if err := Parse(t, raw).DecodeData(&o); err != nil {
		t.Fatal(err)
	}
	return o.OnboardingID
}

// RunToCompletion hands messages to the host under test with deliver (which
// reports whether one was due) until the onboarding completes, and fails the
// test if it has not within 30 seconds.
func RunToCompletion(t *testing.T, a *app.Local, onboardingID string, deliver func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		o, _, err := a.Store.GetOnboarding(context.Background(), onboardingID)
		if err == nil && o.State == store.StateCompleted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("onboarding ended %s at %s: %s", o.State, o.Step, o.Detail)
		}
		if !deliver() {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// AssertSyncRunning checks that the sample source tenant has one
// configuration app whose one job runs.
func AssertSyncRunning(t *testing.T, sim *graphsim.Server) {
	t.Helper()
	src := sim.Tenant(graphsim.SampleSourceTenant)
	if len(src.ServicePrincipals) != 1 || len(src.ServicePrincipals[0].Jobs) != 1 || src.ServicePrincipals[0].Jobs[0].ScheduleState != "Active" {
		t.Fatalf("source tenant: %+v", src.ServicePrincipals)
	}
}

// InvalidOnboarding is an onboarding.requested event whose data fails
// validation (the onboarding id is no GUID).
var InvalidOnboarding = []byte(`{"specversion":"1.0","id":"x","source":"/y","type":"onboarding.requested","data":{"onboardingId":"nope"}}`)

// DeadLetterOf reads the one record on the dead-letter queue that settling by
// publishing writes to, failing the test when there is none.
func DeadLetterOf(t *testing.T, a *app.Local) settle.DeadLetterRecord {
	t.Helper()
	ds, err := a.Bus.Receive(context.Background(), []string{settle.DeadLetterQueue}, 1, time.Minute)
	if err != nil || len(ds) != 1 {
		t.Fatalf("nothing reached the dead-letter queue (%v)", err)
	}
	var rec settle.DeadLetterRecord
	if err := json.Unmarshal(ds[0].Body, &rec); err != nil {
		t.Fatalf("dead letter %s: %v", ds[0].Body, err)
	}
	return rec
}
