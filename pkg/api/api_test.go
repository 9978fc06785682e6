package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/api/apitest"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
)

const (
	source = "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11"
	target = "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55"
	adele  = "61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10"
	token  = "0123456789abcdef0123456789abcdef-test-token"
)

// fixture is the API on a real embedded queue and SQLite store.
type fixture struct {
	t     *testing.T
	queue *bus.Embedded
	store *store.Store
	srv   *httptest.Server
}

func newFixture(t *testing.T, allowed *onboarding.Tenants) *fixture {
	t.Helper()
	db, err := localdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := bus.NewEmbedded(db)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := store.NewSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv)
	table, err := onboarding.Table(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &api.Server{Intake: onboarding.Intake{Table: table, Queue: q, Progress: st, Allowed: allowed}, Store: st}
	h, err := api.Bearer(token, s.Handler())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{t: t, queue: q, store: st, srv: srv}
}

// do sends a request and checks the answer against openapi.yaml.
func (f *fixture) do(method, path, contentType, body string, auth string) (int, http.Header, map[string]any) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(path, "/onboardings") {
		apitest.Check(f.t, method, path, "", resp.StatusCode, resp.Header, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

func (f *fixture) queued() int {
	f.t.Helper()
	d, err := f.queue.Depth(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Ready + d.Scheduled + d.Locked
}

const bearer = "Bearer " + token

func plain(extra string) string {
	return `{"sourceTenantId":"` + source + `","targetTenantId":"` + target + `","configurationName":"Contoso to Fabrikam","users":["` + adele + `"]` + extra + `}`
}

func TestAPlainRequestIsAcceptedOnceAndItsStatusIsReadBack(t *testing.T) {
	f := newFixture(t, nil)
	body := plain(`,"onboardingId":"3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64","requestedBy":"CHG0042137"`)
	status, header, out := f.do("POST", "/onboardings", "application/json", body, bearer)
	if status != 202 || out["onboardingId"] != "3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64" || out["existing"] != false ||
		header.Get("Location") != "/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64" {
		t.Fatalf("%d %v %v", status, header, out)
	}
	if n := f.queued(); n != 1 {
		t.Fatalf("%d messages queued", n)
	}
	status, header, again := f.do("POST", "/onboardings", "application/json; charset=utf-8", body, bearer)
	if status != 202 || again["onboardingId"] != out["onboardingId"] || again["existing"] != true || header.Get("Location") != "/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64" {
		t.Fatalf("the same request again: %d %v", status, again)
	}
	if n := f.queued(); n != 1 {
		t.Fatalf("the repeated request queued again: %d messages", n)
	}
	status, _, got := f.do("GET", header.Get("Location"), "", "", bearer)
	o, _ := got["onboarding"].(map[string]any)
	if status != 200 || o["state"] != "requested" || o["requestedBy"] != "CHG0042137" {
		t.Fatalf("status: %d %v", status, got)
	}
	// Without an onboardingId, every request is a new onboarding.
	_, _, first := f.do("POST", "/onboardings", "application/json", plain(""), bearer)
	_, _, second := f.do("POST", "/onboardings", "application/json", plain(""), bearer)
	if first["onboardingId"] == second["onboardingId"] || f.queued() != 3 {
		t.Fatalf("two requests without an onboardingId: %v %v, %d queued", first, second, f.queued())
	}
}

func TestACloudEventIsIdempotentOnItsID(t *testing.T) {
	f := newFixture(t, nil)
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "examples", "onboarding.requested.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, ct := range []string{"application/cloudevents+json", "application/json"} {
		status, _, out := f.do("POST", "/onboardings", ct, string(raw), bearer)
		if status != 202 || out["existing"] != (i == 1) {
			t.Fatalf("%s: %d %v", ct, status, out)
		}
	}
	if n := f.queued(); n != 1 {
		t.Fatalf("%d messages queued for one event", n)
	}
}

func TestRefusalsQueueNothing(t *testing.T) {
	allowed, err := onboarding.ParseTenants(source+","+target, "test")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, allowed)
	const stranger = "4d1e0f2a-6b7c-4d8e-9f01-23456789abcd"
	for _, tc := range []struct {
		name, method, path, contentType, body, auth string
		status                                      int
		field, says                                 string
	}{
		{"no token", "POST", "/onboardings", "application/json", plain(""), "", 401, "", "bearer token"},
		{"wrong token", "POST", "/onboardings", "application/json", plain(""), "Bearer " + strings.Repeat("x", 44), 401, "", "bearer token"},
		{"token as basic", "POST", "/onboardings", "application/json", plain(""), "Basic " + token, 401, "", "bearer token"},
		{"no token on status", "GET", "/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64", "", "", "", 401, "", "bearer token"},
		{"text body", "POST", "/onboardings", "text/plain", plain(""), bearer, 415, "", "application/json"},
		{"no content type", "POST", "/onboardings", "", plain(""), bearer, 415, "", "application/json"},
		{"oversized", "POST", "/onboardings", "application/json", plain(`,"requestedBy":"` + strings.Repeat("a", api.MaxBody) + `"`), bearer, 413, "", "256 KiB"},
		{"not JSON", "POST", "/onboardings", "application/json", `{"sourceTenantId":`, bearer, 400, "body", "not a JSON object"},
		{"unknown field", "POST", "/onboardings", "application/json", plain(`,"colour":"red"`), bearer, 400, "colour", "unknown field"},
		{"bad user", "POST", "/onboardings", "application/json", strings.Replace(plain(""), adele, "adele@contoso.com", 1), bearer, 400, "users[0]", "GUID"},
		{"wrong type", "POST", "/onboardings", "application/json", `{"sourceTenantId":42}`, bearer, 400, "sourceTenantId", ""},
		{"wrong event type", "POST", "/onboardings", "application/cloudevents+json", example(t, "step.failed"), bearer, 400, "type", "only onboarding.requested"},
		{"tenant outside the allow-list", "POST", "/onboardings", "application/json", strings.Replace(plain(""), source, stranger, 1), bearer, 403, "", stranger},
		{"method", "DELETE", "/onboardings", "", "", bearer, 405, "", "POST"},
		{"status method", "POST", "/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64", "application/json", "{}", bearer, 405, "", "GET"},
		{"unknown onboarding", "GET", "/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64", "", "", bearer, 404, "", "no onboarding"},
		{"bad id", "GET", "/onboardings/not-a-guid", "", "", bearer, 400, "id", "GUID"},
		{"unknown path", "GET", "/tickets", "", "", bearer, 404, "", "no such resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			status, header, out := f.do(tc.method, tc.path, tc.contentType, tc.body, tc.auth)
			msg, _ := out["error"].(string)
			if status != tc.status || !strings.Contains(msg, tc.says) || (tc.field != "" && out["field"] != tc.field) {
				t.Fatalf("%d %v", status, out)
			}
			if status == 401 && header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if status == 403 && out["tenant"] != stranger {
				t.Errorf("403 does not name the tenant: %v", out)
			}
			if n := f.queued(); n != 0 {
				t.Fatalf("a refused request queued %d messages", n)
			}
		})
	}
}

func example(t *testing.T, typ string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "examples", typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestATokenTooShortToBeSafeIsRefused(t *testing.T) {
	if _, err := api.Bearer("secret", http.NotFoundHandler()); err == nil {
		t.Fatal("a six-character token was accepted")
	}
}
