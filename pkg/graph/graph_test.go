package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/graphsim"
)

const (
	source = "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11"
	target = "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55"
	adele  = "61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10"
)

func startSim(t *testing.T, opts graphsim.Options) *graphsim.Server {
	t.Helper()
	sim, err := graphsim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.AddTenant(graphsim.TenantSpec{ID: source, DisplayName: "Contoso", Users: []graphsim.UserSpec{{ID: adele, DisplayName: "Adele Vance", UserPrincipalName: "adele@contoso.com"}}})
	sim.AddTenant(graphsim.TenantSpec{ID: target, DisplayName: "Fabrikam"})
	return sim
}

func clientFor(t *testing.T, sim *graphsim.Server, mutate ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{AuthorityHost: sim.URL, GraphEndpoint: sim.URL, ClientID: sim.ClientID(),
		ClientSecret: entra.Redacted(sim.ClientSecret()), RootCAs: sim.CA.Pool()}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dir(t *testing.T, c *Client, tenant string) entra.Directory {
	t.Helper()
	d, err := c.Tenant(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEachTenantGetsItsOwnTokenAndSeesOnlyItsOwnObjects(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t, graphsim.Options{})
	c := clientFor(t, sim)
	if _, err := dir(t, c, target).CreatePartner(ctx, source); err != nil {
		t.Fatal(err)
	}
	if _, err := dir(t, c, source).GetPartner(ctx, source); !fault.Is(err, fault.NotFound) {
		t.Fatalf("source tenant must not see target's partner: %v", err)
	}
	p, err := dir(t, c, target).GetPartner(ctx, source)
	if err != nil || !strings.EqualFold(p.TenantID, source) || p.Inbound != nil {
		t.Fatalf("partner %+v %v", p, err)
	}
	if n := sim.CountRequests("POST", "/oauth2/v2.0/token", ""); n != 2 {
		t.Fatalf("want one token request per tenant, got %d", n)
	}
}

func TestPartnerConflictIsClassified(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t, graphsim.Options{})
	d := dir(t, clientFor(t, sim), target)
	if _, err := d.CreatePartner(ctx, source); err != nil {
		t.Fatal(err)
	}
	_, err := d.CreatePartner(ctx, source)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Conflict || fe.Code != "Request_MultipleObjectsWithSameKeyValue" || fe.Status != 409 {
		t.Fatalf("want conflict, got %#v", err)
	}
}

func TestIdentitySyncPutPatchAndTheMissingSDKPatch(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t, graphsim.Options{})
	d := dir(t, clientFor(t, sim), target)
	if _, err := d.CreatePartner(ctx, source); err != nil {
		t.Fatal(err)
	}
	err := d.UpdateIdentitySync(ctx, source, entra.IdentitySync{DisplayName: "x", SyncAllowed: true})
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != "Directory_ObjectNotFound" || fe.Kind != fault.NotFound {
		t.Fatalf("PATCH before PUT: %v", err)
	}
	if err := d.CreateIdentitySync(ctx, source, entra.IdentitySync{DisplayName: "Contoso", SyncAllowed: false}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateIdentitySync(ctx, source, entra.IdentitySync{DisplayName: "Contoso", SyncAllowed: true}); !fault.Is(err, fault.Conflict) {
		t.Fatalf("second PUT: %v", err)
	}
	if err := d.UpdateIdentitySync(ctx, source, entra.IdentitySync{DisplayName: "Contoso", SyncAllowed: true}); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetIdentitySync(ctx, source)
	if err != nil || !got.SyncAllowed || got.DisplayName != "Contoso" {
		t.Fatalf("%+v %v", got, err)
	}
	if n := sim.CountRequests("PATCH", "/identitySynchronization", target); n != 2 {
		t.Fatalf("want the hand-built PATCH on the wire twice, saw %d", n)
	}
}

func TestDeniedNamesThePermissionAndRole(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	sim.Revoke(target, "Policy.ReadWrite.CrossTenantAccess")
	_, err := dir(t, clientFor(t, sim), target).CreatePartner(context.Background(), source)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Denied || fe.Code != "Authorization_RequestDenied" {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"Policy.ReadWrite.CrossTenantAccess", "Security Administrator", target} {
		if !strings.Contains(fe.Remedy, want) {
			t.Errorf("remedy %q lacks %q", fe.Remedy, want)
		}
	}
}

func TestAppNotConsentedInATenantIsDeniedWithRemedy(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	sim.SetConsented(target, false)
	_, err := dir(t, clientFor(t, sim), target).GetPartner(context.Background(), source)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Denied || !strings.Contains(fe.Remedy, "consent") {
		t.Fatalf("got %v", err)
	}
}

func TestWrongSecretIsDenied(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	c := clientFor(t, sim, func(c *Config) { c.ClientSecret = "wrong" })
	_, err := dir(t, c, target).GetPartner(context.Background(), source)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Denied || !strings.Contains(fe.Remedy, "AZURE_CLIENT_SECRET") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), sim.ClientSecret()) {
		t.Fatal("the secret leaked into the error")
	}
}

// The client retries nothing: its caller is the one retry owner of each
// path (the router for steps, the harvester's budget for the logs), so a
// throttled answer, read or write, comes back at once with its Retry-After,
// fractions kept, and nothing is sent twice.
func TestThrottledAnswersGoBackToTheCallerWithTheirRetryAfter(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t, graphsim.Options{})
	d := dir(t, clientFor(t, sim), target)
	if _, err := d.CreatePartner(ctx, source); err != nil {
		t.Fatal(err)
	}
	sim.Inject(graphsim.Fault{Method: "GET", PathContains: "/partners/", Times: 1, Status: 429, RetryAfter: "2.128"})
	_, err := d.GetPartner(ctx, source)
	if !fault.Is(err, fault.Throttled) || fault.RetryAfterOf(err) != 2128*time.Millisecond {
		t.Fatalf("want throttled with Retry-After 2.128s, got %v", err)
	}
	if n := sim.CountRequests("GET", "/partners/", ""); n != 1 {
		t.Fatalf("a throttled read was re-sent by the transport: %d requests", n)
	}
	if _, err := d.GetPartner(ctx, source); err != nil {
		t.Fatalf("the next read: %v", err)
	}

	sim.Inject(graphsim.Fault{Method: "POST", PathContains: "/instantiate", Times: 1, Status: 429, RetryAfter: "1"})
	_, err = dir(t, clientFor(t, sim), source).InstantiateTemplate(ctx, entra.CrossTenantSyncTemplateID, "Contoso to Fabrikam")
	if !fault.Is(err, fault.Throttled) || fault.RetryAfterOf(err) != time.Second {
		t.Fatalf("want throttled with Retry-After 1s, got %v", err)
	}
	if n := sim.CountRequests("POST", "/instantiate", ""); n != 1 {
		t.Fatalf("a create must not be re-sent by the transport; sent %d times", n)
	}
}

func TestBodiesGoOutUncompressed(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	if _, err := dir(t, clientFor(t, sim), target).CreatePartner(context.Background(), source); err != nil {
		t.Fatal(err)
	}
	for _, r := range sim.Requests() {
		if r.Method == "POST" && r.Version != "" && r.ContentEncoding != "" {
			t.Fatalf("request %s %s sent with Content-Encoding %q", r.Method, r.Path, r.ContentEncoding)
		}
	}
}

func TestWrapTransportSeesGraphRequests(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	var n atomic.Int32
	c := clientFor(t, sim, func(c *Config) {
		c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) { n.Add(1); return rt.RoundTrip(r) })
		}
	})
	_, _ = dir(t, c, target).GetPartner(context.Background(), source)
	if n.Load() != 1 {
		t.Fatalf("wrapped transport saw %d requests", n.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestConfigFromEnvNamesTheBadSetting(t *testing.T) {
	env := map[string]string{"CTSYNC_CLOUD": "mars"}
	if _, err := FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "CTSYNC_CLOUD") {
		t.Fatalf("got %v", err)
	}
	env = map[string]string{"CTSYNC_GRAPH_ENDPOINT": "http://127.0.0.1:8080"}
	if _, err := FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "CTSYNC_GRAPH_ENDPOINT") {
		t.Fatalf("got %v", err)
	}
	env = map[string]string{"CTSYNC_CLOUD": "usgovdod"}
	cfg, err := FromEnv(func(k string) string { return env[k] })
	if err != nil || cfg.GraphEndpoint != "https://dod-graph.microsoft.us" || cfg.AuthorityHost != "https://login.microsoftonline.us/" {
		t.Fatalf("%+v %v", cfg, err)
	}
	if err := cfg.CheckCredentials(); err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID") {
		t.Fatalf("got %v", err)
	}
}

// Every tenant's client shares one Graph transport and one login transport:
// a thousand tenants do not open a thousand connection pools.
func TestTenantsShareOneTransportPerHost(t *testing.T) {
	c, err := New(Config{AuthorityHost: "https://login.example/", GraphEndpoint: "https://graph.example", ClientID: "6731de76-14a6-49ae-97bc-6eba6914391e",
		ClientSecret: "x"})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Tenant(context.Background(), "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11")
	b, _ := c.Tenant(context.Background(), "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55")
	if a == b {
		t.Fatal("two tenants got one directory")
	}
	if c.graphHTTP == nil || c.loginOpts.Transport == nil {
		t.Fatal("no shared transports")
	}
	// The cache is bounded: the least recently used tenant is let go.
	for i := 0; i < MaxTenants+10; i++ {
		if _, err := c.Tenant(context.Background(), fmt.Sprintf("00000000-0000-4000-8000-%012d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.recent.Len(); n != MaxTenants || len(c.tenants) != MaxTenants {
		t.Fatalf("%d tenants cached (map %d), bound %d", n, len(c.tenants), MaxTenants)
	}
}

// Exact assignments remove what is not listed, so every page of
// appRoleAssignedTo must be read: the emulator pages by two here.
func TestAssignmentsAreReadAcrossEveryPage(t *testing.T) {
	ctx := context.Background()
	sim, err := graphsim.Start(graphsim.Options{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	groups := []string{"0a000000-0000-4000-8000-000000000001", "0a000000-0000-4000-8000-000000000002", "0a000000-0000-4000-8000-000000000003",
		"0a000000-0000-4000-8000-000000000004", "0a000000-0000-4000-8000-000000000005"}
	var specs []graphsim.GroupSpec
	for i, g := range groups {
		specs = append(specs, graphsim.GroupSpec{ID: g, DisplayName: fmt.Sprintf("Group %d", i)})
	}
	sim.AddTenant(graphsim.TenantSpec{ID: source, DisplayName: "Contoso", Groups: specs})
	d := dir(t, clientFor(t, sim), source)
	sp, err := d.InstantiateTemplate(ctx, entra.CrossTenantSyncTemplateID, "Paged")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err = d.GetServicePrincipal(ctx, sp.ID); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if _, err := d.Assign(ctx, sp.ID, sp.AppRoles[0].ID, g); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.ListAssignments(ctx, sp.ID)
	if err != nil || len(got) != len(groups) {
		t.Fatalf("read %d of %d assignments (%v)", len(got), len(groups), err)
	}
	if n := sim.CountRequests("GET", "/appRoleAssignedTo", ""); n != 3 {
		t.Fatalf("want 3 pages of two, read %d", n)
	}
}

// Writes to one tenant stay within its budget: the one over it is not sent
// and says when there is room; after a 429 nothing is written to that
// tenant before its Retry-After; reads are never held back.
func TestWritesArePacedPerTenantAndA429IsHonoured(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t, graphsim.Options{WritesPerWindow: 100, WriteWindow: time.Minute})
	c := clientFor(t, sim, func(cfg *Config) { cfg.TenantWrites, cfg.TenantWriteWindow = 2, 500*time.Millisecond })
	d := dir(t, c, target)
	for i := range 2 {
		if _, err := d.CreatePartner(ctx, fmt.Sprintf("0a000000-0000-4000-8000-00000000000%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := d.CreatePartner(ctx, "0a000000-0000-4000-8000-000000000009")
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Throttled || fe.Code != PacedCode || fe.RetryAfter <= 0 || fe.RetryAfter > 500*time.Millisecond {
		t.Fatalf("the third write in the window: %v", err)
	}
	if n := sim.CountRequests("POST", "/partners", target); n != 2 {
		t.Fatalf("%d writes reached Graph; the paced one must not", n)
	}
	if _, err := d.GetPartner(ctx, source); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a read while writes are paced: %v", err)
	}
	if w := c.WriteWait(target); w <= 0 {
		t.Fatalf("WriteWait %s while the budget is spent", w)
	}
	if w := c.WriteWait(source); w != 0 {
		t.Fatalf("another tenant waits %s", w)
	}
	time.Sleep(fe.RetryAfter + 20*time.Millisecond)
	if _, err := d.CreatePartner(ctx, "0a000000-0000-4000-8000-000000000009"); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	sim.Inject(graphsim.Fault{Method: "POST", PathContains: "/partners", Tenant: source, Status: 429, RetryAfter: "0.3", Times: 1})
	s := dir(t, c, source)
	if _, err := s.CreatePartner(ctx, target); !fault.Is(err, fault.Throttled) {
		t.Fatalf("the 429: %v", err)
	}
	if _, err := s.CreatePartner(ctx, target); !errors.As(err, &fe) || fe.Code != PacedCode {
		t.Fatalf("a write right after the 429 was sent: %v", err)
	}
	time.Sleep(320 * time.Millisecond)
	if _, err := s.CreatePartner(ctx, target); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
}
