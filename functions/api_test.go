package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/api/apitest"
	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/graphsim"
)

const intakeToken = "5f0c2b7e9a4d4e18b6c3f1a2d8e7c9b0-intake"

// call sends one API request to a running `serve --listen` and checks the
// answer against openapi.yaml.
func call(t *testing.T, base, method, path, contentType, body, token string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apitest.Check(t, method, path, "", resp.StatusCode, resp.Header, raw)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

// serveAPI starts `ctsync serve --listen` and waits until it answers.
func serveAPI(t *testing.T, env []string) (string, *syncBuffer) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", emulators.FreePort(t))
	_, logs := background(t, env, "serve", "--listen", addr, "--harvest-interval", "1h")
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64")
		if err == nil {
			resp.Body.Close()
			return base, logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --listen never answered:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A ticket system posts an onboarding to `serve --listen` and reads how it
// went, with the token from a file; what it must not do is refused with the
// documented status, and nothing is queued for it.
func TestTheAPIOnServeRunsAnOnboardingAndRefusesWhatItMust(t *testing.T) {
	_, graph := simulator(t, graphsim.Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(intakeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(append(graph, fast...), "CTSYNC_STATE_DIR="+t.TempDir(), "CTSYNC_INTAKE_TOKEN_FILE="+tokenFile,
		"CTSYNC_ALLOWED_TENANTS="+graphsim.SampleSourceTenant+","+graphsim.SampleTargetTenant)
	base, logs := serveAPI(t, env)

	plain := func(source string) string {
		return `{"sourceTenantId":"` + source + `","targetTenantId":"` + graphsim.SampleTargetTenant + `","configurationName":"Contoso to Fabrikam",` +
			`"users":["` + graphsim.SampleUsers[0].ID + `"],"groups":["` + graphsim.SampleGroup + `"],"requestedBy":"INC0012345"}`
	}
	const stranger = "4d1e0f2a-6b7c-4d8e-9f01-23456789abcd"
	for _, tc := range []struct {
		name, contentType, body, token string
		status                         int
	}{
		{"no token", "application/json", plain(graphsim.SampleSourceTenant), "", 401},
		{"wrong token", "application/json", plain(graphsim.SampleSourceTenant), strings.Repeat("0", len(intakeToken)), 401},
		{"malformed", "application/json", `{"sourceTenantId":`, intakeToken, 400},
		{"wrong type", "application/json", `{"users":"adele"}`, intakeToken, 400},
		{"oversized", "application/json", `{"requestedBy":"` + strings.Repeat("x", api.MaxBody) + `"}`, intakeToken, 413},
		{"wrong content type", "text/plain", plain(graphsim.SampleSourceTenant), intakeToken, 415},
		{"outside the allow-list", "application/json", plain(stranger), intakeToken, 403},
	} {
		if status, _, out := call(t, base, "POST", "/onboardings", tc.contentType, tc.body, tc.token); status != tc.status {
			t.Errorf("%s: %d %v", tc.name, status, out)
		}
	}
	if list, _, _ := ctsync(t, env, "status", "--output", "json"); !strings.Contains(list, `"onboardings": []`) {
		t.Fatalf("refused requests left onboardings behind:\n%s", list)
	}

	status, header, accepted := call(t, base, "POST", "/onboardings", "application/json", plain(graphsim.SampleSourceTenant), intakeToken)
	location := header.Get("Location")
	if status != 202 || location == "" || accepted["location"] != location {
		t.Fatalf("POST: %d %v %v", status, header, accepted)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		status, _, got := call(t, base, "GET", location, "", "", intakeToken)
		o, _ := got["onboarding"].(map[string]any)
		if status == 200 && o["state"] == "completed" {
			if o["requestedBy"] != "INC0012345" || o["jobId"] == nil {
				t.Fatalf("status: %v", got)
			}
			break
		}
		if status != 200 || o["state"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %v\n%s", location, status, got, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status, _, _ := call(t, base, "GET", location, "", "", ""); status != 401 {
		t.Fatalf("status without the token: %d", status)
	}
	if strings.Contains(logs.String(), intakeToken) {
		t.Fatal("the intake token leaked into the logs")
	}
}

// Without a token, --listen refuses to start rather than serve an open API.
func TestListenWithoutATokenRefusesToStart(t *testing.T) {
	for _, env := range [][]string{{}, {"CTSYNC_INTAKE_TOKEN=short"}, {"CTSYNC_INTAKE_TOKEN=" + intakeToken, "CTSYNC_INTAKE_TOKEN_FILE=/x"}} {
		_, errOut, code := ctsync(t, append(env, "CTSYNC_STATE_DIR="+t.TempDir()), "serve", "--listen", "127.0.0.1:0")
		if code != 1 || !strings.Contains(errOut, "CTSYNC_INTAKE_TOKEN") && !strings.Contains(errOut, "intake token") {
			t.Errorf("%v: exit %d %s", env, code, errOut)
		}
	}
}
