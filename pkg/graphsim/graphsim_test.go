package graphsim

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	contoso  = "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11"
	fabrikam = "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55"
	sp       = "a4f5b6c7-d8e9-4f0a-8b1c-2d3e4f5a6b7c"
)

// client talks to the emulator with plain net/http, the way any Graph
// client on the wire would.
type client struct {
	t     *testing.T
	s     *Server
	http  *http.Client
	token string
}

func start(t *testing.T, opts Options) *client {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.AddSampleTenants()
	c := &client{t: t, s: s, http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CA.Pool()}}}}
	c.token = c.login(contoso, s.ClientSecret(), 200)["access_token"].(string)
	return c
}

func (c *client) login(tenant, secret string, want int) map[string]any {
	c.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.s.ClientID()}, "client_secret": {secret}, "scope": {c.s.URL + "/.default"}}
	resp, err := c.http.PostForm(c.s.URL+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != want {
		c.t.Fatalf("token: status %d, want %d: %v", resp.StatusCode, want, body)
	}
	return body
}

func (c *client) do(method, path string, body []byte, header ...string) (int, map[string]any, http.Header) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.s.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp.Header
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestLoginRefusesWhatEntraRefuses(t *testing.T) {
	c := start(t, Options{})
	for _, tc := range []struct {
		tenant, secret string
		status         int
		aadsts         string
	}{
		{contoso, "wrong", 401, "AADSTS7000215"},
		{"00000000-0000-4000-8000-000000000000", c.s.ClientSecret(), 400, "AADSTS90002"},
	} {
		body := c.login(tc.tenant, tc.secret, tc.status)
		if !strings.Contains(fmt.Sprint(body["error_description"]), tc.aadsts) {
			t.Errorf("%s: %v", tc.aadsts, body)
		}
	}
	c.s.SetConsented(fabrikam, false)
	if body := c.login(fabrikam, c.s.ClientSecret(), 400); !strings.Contains(fmt.Sprint(body["error_description"]), "AADSTS700016") {
		t.Errorf("unconsented: %v", body)
	}
}

func TestGraphRefusesMissingAndForeignTokens(t *testing.T) {
	c := start(t, Options{})
	c.token = ""
	if st, body, _ := c.do("GET", "/beta/policies/crossTenantAccessPolicy/partners", nil); st != 401 || errorCode(body) != "InvalidAuthenticationToken" {
		t.Fatalf("%d %v", st, body)
	}
	c.token = "eyJhbGciOiJub25lIn0.eyJ0aWQiOiIwYjdmIn0.x"
	if st, _, _ := c.do("GET", "/beta/policies/crossTenantAccessPolicy/partners", nil); st != 401 {
		t.Fatalf("forged token accepted: %d", st)
	}
}

func TestGzipBodiesAreReadAndOtherEncodingsRefused(t *testing.T) {
	c := start(t, Options{})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"tenantId":"` + fabrikam + `"}`))
	zw.Close()
	if st, body, _ := c.do("POST", "/v1.0/policies/crossTenantAccessPolicy/partners", buf.Bytes(), "Content-Encoding", "gzip"); st != 201 || body["tenantId"] != fabrikam {
		t.Fatalf("gzip body: %d %v", st, body)
	}
	if st, _, _ := c.do("POST", "/v1.0/policies/crossTenantAccessPolicy/partners", []byte("x"), "Content-Encoding", "br"); st != 415 {
		t.Fatalf("brotli: %d", st)
	}
	// A body labelled gzip that is not gzip (the SDK's retried-body bug) is refused.
	if st, _, _ := c.do("POST", "/v1.0/policies/crossTenantAccessPolicy/partners", []byte(`{"tenantId":"x"}`), "Content-Encoding", "gzip"); st != 400 {
		t.Fatalf("mislabelled body: %d", st)
	}
}

func TestNewServicePrincipalsAndJobsReplicate(t *testing.T) {
	c := start(t, Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 300 * time.Millisecond})
	st, body, _ := c.do("POST", "/beta/applicationTemplates/518e5f48-1fc8-4c48-9387-9fdf28b0dfe7/instantiate", []byte(`{"displayName":"Contoso to Fabrikam"}`))
	if st != 201 {
		t.Fatalf("instantiate %d %v", st, body)
	}
	spID := body["servicePrincipal"].(map[string]any)["id"].(string)
	if st, _, _ := c.do("GET", "/beta/servicePrincipals/"+spID, nil); st != 404 {
		t.Fatalf("new service principal readable at once: %d", st)
	}
	filter := url.QueryEscape("applicationTemplateId eq '518e5f48-1fc8-4c48-9387-9fdf28b0dfe7' and displayName eq 'Contoso to Fabrikam'")
	if _, body, _ := c.do("GET", "/beta/servicePrincipals?$filter="+filter, nil); len(body["value"].([]any)) != 0 {
		t.Fatal("new service principal listed at once")
	}
	time.Sleep(350 * time.Millisecond)
	if _, body, _ := c.do("GET", "/beta/servicePrincipals?$filter="+filter, nil); len(body["value"].([]any)) != 1 {
		t.Fatalf("not listed after replication: %v", body)
	}
	if st, body, _ := c.do("GET", "/beta/servicePrincipals?$filter="+url.QueryEscape("appRoleAssignmentRequired eq true"), nil); st != 400 || errorCode(body) != "Request_UnsupportedQuery" {
		t.Fatalf("unsupported filter: %d %v", st, body)
	}
	st, body, _ = c.do("POST", "/beta/servicePrincipals/"+spID+"/synchronization/jobs", []byte(`{"templateId":"Azure2Azure"}`))
	if st != 201 {
		t.Fatalf("create job %d %v", st, body)
	}
	job := body["id"].(string)
	schedule := body["schedule"].(map[string]any)
	if schedule["state"] != "Disabled" || body["status"].(map[string]any)["code"] != "Paused" || !strings.HasPrefix(job, "Azure2Azure.") {
		t.Fatalf("new job %v", body)
	}
	if st, _, _ := c.do("GET", "/beta/servicePrincipals/"+spID+"/synchronization/jobs/"+job, nil); st != 404 {
		t.Fatalf("new job readable at once: %d", st)
	}
}

func TestFaultsInjectThrottlingAndDroppedAnswers(t *testing.T) {
	c := start(t, Options{})
	c.s.Inject(Fault{Method: "GET", PathContains: "/partners", Times: 1, Status: 429, RetryAfter: "2.5"})
	st, body, h := c.do("GET", "/beta/policies/crossTenantAccessPolicy/partners", nil)
	if st != 429 || h.Get("Retry-After") != "2.5" || errorCode(body) != "TooManyRequests" {
		t.Fatalf("%d %v %v", st, h, body)
	}
	if st, _, _ := c.do("GET", "/beta/policies/crossTenantAccessPolicy/partners", nil); st != 200 {
		t.Fatalf("fault outlived Times: %d", st)
	}
	c.s.Inject(Fault{Method: "POST", PathContains: "/partners", Times: 1, DropAfterCommit: true})
	req, _ := http.NewRequest("POST", c.s.URL+"/beta/policies/crossTenantAccessPolicy/partners", strings.NewReader(`{"tenantId":"`+fabrikam+`"}`))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if _, err := c.http.Do(req); err == nil {
		t.Fatal("a dropped answer arrived")
	}
	if st, body, _ := c.do("GET", "/beta/policies/crossTenantAccessPolicy/partners/"+fabrikam, nil); st != 200 || body["tenantId"] != fabrikam {
		t.Fatalf("the change behind the dropped answer is missing: %d %v", st, body)
	}
}

func TestProvisioningLogsPagingAndFilterGrammar(t *testing.T) {
	c := start(t, Options{ReportsPerWindow: -1})
	cutoff := time.Now().UTC().Add(-50 * time.Minute).Truncate(time.Second)
	// Record i happens at cutoff-600s+i s: record 600 sits exactly on the cutoff.
	c.s.GenerateProvisioningRecords(contoso, sp, "Azure2Azure.x", 1050, cutoff.Add(-600*time.Second), time.Second, 100)
	c.s.GenerateProvisioningRecords(contoso, "b5a6c7d8-e9f0-4a1b-9c2d-3e4f5a6b7c8d", "Azure2Azure.y", 500, cutoff.Add(-600*time.Second), time.Second, 0)
	q := url.Values{
		"$filter":  {fmt.Sprintf("servicePrincipal/id eq '%s' and activityDateTime gt %s", sp, cutoff.Format(time.RFC3339))},
		"$orderby": {"activityDateTime asc"}, "$top": {"500"},
	}
	path := "/v1.0/auditLogs/provisioning?" + q.Encode()
	var ids []string
	var last time.Time
	failures := 0
	for path != "" {
		st, body, _ := c.do("GET", path, nil)
		if st != 200 {
			t.Fatalf("%d %v", st, body)
		}
		for _, v := range body["value"].([]any) {
			r := v.(map[string]any)
			at, _ := time.Parse(time.RFC3339Nano, r["activityDateTime"].(string))
			if at.Before(last) || !at.After(cutoff) || r["servicePrincipal"].(map[string]any)["id"] != sp {
				t.Fatalf("record out of order or outside the filter: %v", r)
			}
			last = at
			ids = append(ids, r["id"].(string))
			if r["provisioningStatusInfo"].(map[string]any)["status"] == "failure" {
				failures++
				if r["provisioningStatusInfo"].(map[string]any)["errorInformation"] == nil {
					t.Fatal("failure without errorInformation")
				}
			}
		}
		next, _ := body["@odata.nextLink"].(string)
		path = strings.TrimPrefix(next, c.s.URL)
	}
	if len(ids) != 449 || failures != 4 {
		t.Fatalf("got %d records (%d failures), want 449 (4)", len(ids), failures)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("record %s on two pages", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{
		"$filter=" + url.QueryEscape("activityDateTime ge 2026-01-01T00:00:00Z"),
		"$filter=" + url.QueryEscape("servicePrincipal/id gt 'x'"),
		"$filter=" + url.QueryEscape("userPrincipalName eq 'x'"),
		"$orderby=id",
		"$top=5000",
		"$skiptoken=garbage!",
	} {
		if st, body, _ := c.do("GET", "/beta/auditLogs/provisioning?"+bad, nil); st != 400 {
			t.Errorf("%s: want 400, got %d %v", bad, st, body)
		}
	}
}

func TestReportsThrottleIsPerTenant(t *testing.T) {
	c := start(t, Options{ReportsPerWindow: 2, ReportsWindow: time.Hour})
	for i := 0; i < 2; i++ {
		if st, _, _ := c.do("GET", "/beta/auditLogs/provisioning?$top=1", nil); st != 200 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	st, _, h := c.do("GET", "/beta/auditLogs/provisioning?$top=1", nil)
	if st != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("third request: %d %v", st, h)
	}
	c.token = c.login(fabrikam, c.s.ClientSecret(), 200)["access_token"].(string)
	if st, _, _ := c.do("GET", "/beta/auditLogs/provisioning?$top=1", nil); st != 200 {
		t.Fatalf("another tenant shares the budget: %d", st)
	}
}

// The schema answers as the synchronization service does: PATCH is not a
// route (404), PUT replaces the whole document, a changed matching
// attribute or an unknown operator is schemaInvalid.
func TestTheJobSchemaTakesPutOnly(t *testing.T) {
	c := start(t, Options{})
	st, body, _ := c.do("POST", "/beta/applicationTemplates/518e5f48-1fc8-4c48-9387-9fdf28b0dfe7/instantiate", []byte(`{"displayName":"Schema"}`))
	if st != 201 {
		t.Fatalf("instantiate %d %v", st, body)
	}
	jobs := "/beta/servicePrincipals/" + body["servicePrincipal"].(map[string]any)["id"].(string) + "/synchronization/jobs"
	_, body, _ = c.do("POST", jobs, []byte(`{"templateId":"Azure2Azure"}`))
	schema := jobs + "/" + body["id"].(string) + "/schema"
	st, doc, _ := c.do("GET", schema, nil)
	if st != 200 || !strings.Contains(fmt.Sprint(doc), "Filter external users") {
		t.Fatalf("schema %d %v", st, doc)
	}
	raw, _ := json.Marshal(doc)
	if st, body, _ := c.do("PATCH", schema, raw); st != 404 || !strings.Contains(fmt.Sprint(body), "syncfabric.windowsazure.com") {
		t.Fatalf("PATCH: %d %v", st, body)
	}
	if st, _, _ := c.do("PUT", schema, raw); st != 204 {
		t.Fatalf("PUT of the schema as read: %d", st)
	}
	changed := strings.Replace(string(raw), `"expression":"[objectId]","name":"objectId"`, `"expression":"[mail]","name":"mail"`, 1)
	if st, body, _ := c.do("PUT", schema, []byte(changed)); st != 400 || errorCode(body) != "schemaInvalid" {
		t.Fatalf("matching attribute changed: %d %v", st, body)
	}
	badOp := strings.Replace(string(raw), `"operatorName":"EQUALS"`, `"operatorName":"LIKE"`, 1)
	if st, body, _ := c.do("PUT", schema, []byte(badOp)); st != 400 || errorCode(body) != "schemaInvalid" {
		t.Fatalf("unknown operator: %d %v", st, body)
	}
	if st, body, _ := c.do("GET", schema+"/filterOperators", nil); st != 200 || len(body["value"].([]any)) != 8 {
		t.Fatalf("filterOperators %d %v", st, body)
	}
}
