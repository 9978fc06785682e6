package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/graphsim"
)

var idsInPath = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|Azure2Azure\.[0-9a-f]+\.[0-9a-fA-F-]+`)

// sampleWrite is a Graph write to one of the sample tenants, with the
// tenant's role in the pair.
type sampleWrite struct {
	role string
	r    graphsim.Request
}

// graphWrites are the Graph writes since from, in the order they arrived.
func graphWrites(sim *graphsim.Server, from int) []sampleWrite {
	var out []sampleWrite
	for _, r := range sim.Requests()[from:] {
		if r.Version == "" || r.Method == "GET" {
			continue
		}
		role := "source"
		if strings.EqualFold(r.Tenant, graphsim.SampleTargetTenant) {
			role = "target"
		}
		out = append(out, sampleWrite{role: role, r: r})
	}
	return out
}

// writesIn are the Graph writes since from, as "tenant METHOD path" with
// ids replaced by {id}, in the order they were made.
func writesIn(sim *graphsim.Server, from int) []string {
	var out []string
	for _, w := range graphWrites(sim, from) {
		out = append(out, w.role+" "+w.r.Method+" "+idsInPath.ReplaceAllString(w.r.Path, "{id}"))
	}
	return out
}

// A pair applied from a file, then changed behind ctsync's back one setting
// at a time: the drift check (the timer's handler) and plan both name each
// change; apply repairs it with exactly the writes it needs; what a person
// may have done on purpose (a paused job, a deleted configuration app) is
// reported and left alone unless apply is told otherwise. A check with
// nothing drifted emits nothing and writes nothing.
func TestEveryKindOfDriftIsNamedAndRepairedOnlyWhereAsked(t *testing.T) {
	sim, env := simEnv(t, graphsim.Options{AppReplicationDelay: 100 * time.Millisecond, JobReplicationDelay: 100 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond, InitialCycleDelay: 100 * time.Millisecond})
	file := desiredFile(t, []string{adele.ID, lee.ID}, []string{graphsim.SampleGroup}, marketingOnly)
	if out, errOut, code := ctsync(t, env, "apply", "-f", file, "--wait"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	src, dst := graphsim.SampleSourceTenant, graphsim.SampleTargetTenant
	// No cycle runs from here on, so no quarantine follows a change unasked.
	sim.PauseCycles()

	noDrift := func(when string) {
		t.Helper()
		before := len(sim.Requests())
		out, errOut, code := ctsync(t, env, "drift")
		if code != 0 || !strings.Contains(out, "1 pair(s) checked, 0 drifted") {
			t.Fatalf("%s: drift exit %d\n%s\n%s", when, code, out, errOut)
		}
		if w := writesIn(sim, before); len(w) != 0 {
			t.Fatalf("%s: the drift check wrote %v", when, w)
		}
		if out, errOut, code := ctsync(t, env, "plan", "-f", file); code != 0 {
			t.Fatalf("%s: plan exit %d\n%s\n%s", when, code, out, errOut)
		}
	}
	noDrift("after apply")

	// A check answered 429 waits the Retry-After Graph asked for, then
	// checks the pair anyway.
	before := len(sim.Requests())
	sim.Inject(graphsim.Fault{Method: "GET", PathContains: "/partners/", Tenant: dst, Status: 429, RetryAfter: "0.5", Times: 1})
	noDrift("after a 429")
	var throttledAt, nextAt time.Time
	for _, r := range sim.Requests()[before:] {
		if r.Method != "GET" || !strings.EqualFold(r.Tenant, dst) || !strings.Contains(r.Path, "/partners/") {
			continue
		}
		if r.Status == 429 {
			throttledAt = r.Time
		} else if !throttledAt.IsZero() && nextAt.IsZero() {
			nextAt = r.Time
		}
	}
	if throttledAt.IsZero() || nextAt.Sub(throttledAt) < 500*time.Millisecond {
		t.Fatalf("the drift check read again %s after a 429 asking for 0.5 s", nextAt.Sub(throttledAt))
	}

	off := false
	for _, tc := range []struct {
		name    string
		change  func()
		says    string   // in drift's and plan's output
		repair  []string // apply's writes
		flag    string   // needed for apply to act, and for plan to exit 2
		refused string   // plan's text without the flag
	}{
		{"target inbound auto-redeem cleared", func() { sim.SetAutoConsent(dst, src, &off, nil) },
			"target automaticUserConsentSettings.inboundAllowed", []string{"target PATCH /policies/crossTenantAccessPolicy/partners/{id}"}, "", ""},
		{"source outbound auto-redeem cleared", func() { sim.SetAutoConsent(src, dst, nil, &off) },
			"source automaticUserConsentSettings.outboundAllowed", []string{"source PATCH /policies/crossTenantAccessPolicy/partners/{id}"}, "", ""},
		{"identity sync turned off", func() { sim.SetIdentitySync(dst, src, false, false) },
			"target identitySynchronization.userSyncInbound.isSyncAllowed", []string{"target PATCH /policies/crossTenantAccessPolicy/partners/{id}/identitySynchronization"}, "", ""},
		{"identity sync deleted", func() { sim.SetIdentitySync(dst, src, false, true) },
			"target identitySynchronization.userSyncInbound.isSyncAllowed", []string{"target PUT /policies/crossTenantAccessPolicy/partners/{id}/identitySynchronization"}, "", ""},
		{"group unassigned", func() { sim.UnassignPrincipal(src, graphsim.SampleGroup) },
			"source assignment group " + graphsim.SampleGroup, []string{"source POST /servicePrincipals/{id}/appRoleAssignedTo"}, "", ""},
		{"scoping filter edited", func() {
			sim.EditJobSchemas(src, func(schema map[string]any) { replaceIn(schema, "Marketing", "Sales") })
		}, "source scopingFilters", []string{"source PUT /servicePrincipals/{id}/synchronization/jobs/{id}/schema"}, "", ""},
		{"job deleted", func() { sim.DeleteJobs(src) }, "source synchronization job", []string{
			"source POST /servicePrincipals/{id}/synchronization/jobs/validateCredentials",
			"source POST /servicePrincipals/{id}/synchronization/jobs",
			// The secrets belong to the service principal, and stay.
			"source PUT /servicePrincipals/{id}/synchronization/jobs/{id}/schema",
			"source POST /servicePrincipals/{id}/synchronization/jobs/{id}/provisionOnDemand",
			"source POST /servicePrincipals/{id}/synchronization/jobs/{id}/start"}, "", ""},
		{"job quarantined: cannot reach the target", func() {
			sim.QuarantineJobs(src, "EncounteredQuarantineException", "AzureDirectoryB2BManagementPolicyCheckFailure", "policy check failed")
		}, "source synchronization job status", []string{"source POST /servicePrincipals/{id}/synchronization/jobs/{id}/restart"}, "", ""},
		{"job paused", func() { sim.PauseJobs(src) },
			"source synchronization job schedule", []string{"source POST /servicePrincipals/{id}/synchronization/jobs/{id}/start"}, "--resume-jobs", "Paused outside ctsync"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.change()
			out, errOut, code := ctsync(t, env, "drift")
			if code != 2 || !strings.Contains(out, tc.says) || strings.Contains(out, "(0 new") {
				t.Fatalf("drift: exit %d\n%s\n%s", code, out, errOut)
			}
			if out, _, _ := ctsync(t, env, "drift"); !strings.Contains(out, "0 new") {
				t.Fatalf("the same drift alerted twice:\n%s", out)
			}
			out, errOut, code = ctsync(t, env, "plan", "-f", file)
			wantPlan := 2
			if tc.flag != "" {
				wantPlan = 0 // reported, left alone: nothing for apply to do without the flag
			}
			if code != wantPlan || !strings.Contains(out, tc.says) || tc.refused != "" && !strings.Contains(out, tc.refused) {
				t.Fatalf("plan: exit %d, want %d\n%s\n%s", code, wantPlan, out, errOut)
			}
			if tc.flag != "" {
				before := len(sim.Requests())
				if out, errOut, code := ctsync(t, env, "apply", "-f", file, "--wait"); code != 0 || !strings.Contains(out, "nothing to apply") {
					t.Fatalf("apply without %s: exit %d\n%s\n%s", tc.flag, code, out, errOut)
				}
				if w := writesIn(sim, before); len(w) != 0 {
					t.Fatalf("apply without %s wrote %v", tc.flag, w)
				}
				if _, _, code := ctsync(t, env, "plan", "-f", file, tc.flag); code != 2 {
					t.Fatalf("plan %s: exit %d, want 2", tc.flag, code)
				}
			}
			before := len(sim.Requests())
			// --yes: a filter repaired takes out of scope whom the drifted one let in.
			args := []string{"apply", "-f", file, "--wait", "--yes"}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			if out, errOut, code := ctsync(t, env, args...); code != 0 {
				t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
			}
			if got := writesIn(sim, before); strings.Join(got, "\n") != strings.Join(tc.repair, "\n") {
				t.Fatalf("apply repaired with\n%s\nwant exactly\n%s", strings.Join(got, "\n"), strings.Join(tc.repair, "\n"))
			}
			noDrift("after the repair")
		})
	}

	// Someone deletes the configuration app: reported, left alone unless
	// apply --recreate, which builds it again.
	sim.DeleteConfigurationApps(src)
	out, errOut, code := ctsync(t, env, "drift")
	if code != 2 || !strings.Contains(out, "deleted outside ctsync") || !strings.Contains(out, "apply --recreate") {
		t.Fatalf("drift after the app was deleted: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code = ctsync(t, env, "plan", "-f", file); code != 0 || !strings.Contains(out, "! source configuration app") {
		t.Fatalf("plan without --recreate: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code = ctsync(t, env, "plan", "-f", file, "--recreate"); code != 2 || !strings.Contains(out, "+ source configuration app") {
		t.Fatalf("plan --recreate: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code = ctsync(t, env, "apply", "-f", file, "--wait", "--recreate"); code != 0 {
		t.Fatalf("apply --recreate: exit %d\n%s\n%s", code, out, errOut)
	}
	if sps := sim.Tenant(src).ServicePrincipals; len(sps) != 1 || len(sps[0].Jobs) != 1 || sps[0].Jobs[0].ScheduleState != "Active" {
		t.Fatalf("after apply --recreate: %+v", sps)
	}
	noDrift("after --recreate")
}

// replaceIn replaces a string value anywhere in a JSON document.
func replaceIn(doc any, from, to string) {
	switch v := doc.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && s == from {
				v[k] = to
			} else {
				replaceIn(x, from, to)
			}
		}
	case []any:
		for i, x := range v {
			if s, ok := x.(string); ok && s == from {
				v[i] = to
			} else {
				replaceIn(x, from, to)
			}
		}
	}
}

// The drift check runs on serve's timer beside the harvester and alerts
// each drift once, however many times it runs.
func TestServesDriftTimerAlertsEachDriftOnce(t *testing.T) {
	sim, env := simEnv(t, graphsim.Options{AppReplicationDelay: 100 * time.Millisecond, JobReplicationDelay: 100 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond, InitialCycleDelay: 100 * time.Millisecond})
	file := desiredFile(t, []string{adele.ID, lee.ID}, []string{graphsim.SampleGroup}, "")
	if out, errOut, code := ctsync(t, env, "apply", "-f", file, "--wait"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	sim.PauseCycles()
	sim.UnassignPrincipal(graphsim.SampleSourceTenant, lee.ID)
	before := len(sim.Requests())
	serve, logs := background(t, append(env, "CTSYNC_MONITOR_INTERVAL=1h"), "serve", "--harvest-interval", "0", "--drift-interval", "200ms")
	waitFor(t, "the drift alert", func() bool { return strings.Contains(logs.String(), `"alert_type":"drift.detected"`) })
	waitFor(t, "three more drift checks", func() bool { return strings.Count(logs.String(), `"msg":"drift check done"`) >= 4 })
	killHard(t, serve)
	if n := strings.Count(logs.String(), `"alert_type":"drift.detected"`); n != 1 || !strings.Contains(logs.String(), "source assignment user "+lee.ID) {
		t.Fatalf("%d drift alerts; want one naming the unassigned user:\n%s", n, logs.String())
	}
	if w := writesIn(sim, before); len(w) != 0 {
		t.Fatalf("the drift timer wrote %v", w)
	}
}
