package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/graphsim"
)

var (
	b2bTrust    = map[string]any{"isMfaAccepted": true, "isCompliantDeviceAccepted": true}
	offboardCmd = []string{"offboard", "--source-tenant", graphsim.SampleSourceTenant, "--target-tenant", graphsim.SampleTargetTenant,
		"--remove-partners", "--yes"}
)

// onboardedWithAPreexistingSourcePartner onboards the sample pair in a
// source tenant that already had a partner configuration for the target,
// with B2B settings of its own and automatic redemption off.
func onboardedWithAPreexistingSourcePartner(t *testing.T) (*graphsim.Server, []string) {
	t.Helper()
	sim, env := simEnv(t, graphsim.Options{AppReplicationDelay: 100 * time.Millisecond, JobReplicationDelay: 100 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond, InitialCycleDelay: 100 * time.Millisecond})
	sim.AddPartner(graphsim.SampleSourceTenant, graphsim.PartnerSpec{TenantID: graphsim.SampleTargetTenant, InboundTrust: b2bTrust})
	if out, errOut, code := ctsync(t, env, append(onboardArgs(), "--wait")...); code != 0 {
		t.Fatalf("onboard: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, "the four users in the target", func() bool { return len(deletedInTarget(sim)) == 4 })
	return sim, env
}

// teardownWrites are the Graph writes offboarding made, in order, each as
// tenant role, method, the kind of object and the answer's status.
func teardownWrites(sim *graphsim.Server, from int) []string {
	var out []string
	for _, w := range graphWrites(sim, from) {
		out = append(out, fmt.Sprintf("%s %s %s %d", w.role, w.r.Method, objectKind(w.r.Path), w.r.Status))
	}
	return out
}

func objectKind(path string) string {
	switch {
	case strings.Contains(path, "/synchronization/jobs/"):
		return "job"
	case strings.HasSuffix(path, "/identitySynchronization"):
		return "identitySynchronization"
	case strings.Contains(path, "/partners/"):
		return "partner"
	case strings.HasPrefix(path, "/servicePrincipals/"):
		return "servicePrincipal"
	case strings.HasPrefix(path, "/applications/"):
		return "application"
	}
	return path
}

// Offboarding takes the pair apart in Microsoft's order, shows it first and
// refuses without a terminal and without --yes; a partner configuration
// that existed before ctsync keeps its B2B settings and gets its automatic
// redemption back as it was; the synchronized accounts stay; a second
// offboard makes no write.
func TestOffboardingInMicrosoftsOrder(t *testing.T) {
	sim, env := onboardedWithAPreexistingSourcePartner(t)
	synced := deletedInTarget(sim)

	before := len(sim.Requests())
	out, errOut, code := ctsync(t, env, "offboard", "--source-tenant", graphsim.SampleSourceTenant, "--target-tenant", graphsim.SampleTargetTenant,
		"--remove-partners", "--wait")
	if code != 1 || !strings.Contains(errOut, "--yes") || !strings.Contains(out, "- source synchronization job") ||
		!strings.Contains(out, "Synchronized accounts stay in the target") {
		t.Fatalf("offboard without a terminal and without --yes: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := teardownWrites(sim, before); len(w) != 0 {
		t.Fatalf("refusing wrote %v", w)
	}

	out, errOut, code = ctsync(t, env, append(offboardCmd, "--wait")...)
	if code != 0 || !strings.Contains(out, "✓ offboarding completed") {
		t.Fatalf("offboard: exit %d\n%s\n%s", code, out, errOut)
	}
	want := []string{"source DELETE job 204", "source DELETE servicePrincipal 204", "source DELETE application 204",
		"target DELETE identitySynchronization 204", "target DELETE partner 204", "source PATCH partner 204"}
	if got := teardownWrites(sim, before); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("offboarding wrote, in this order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	src, dst := sim.Tenant(graphsim.SampleSourceTenant), sim.Tenant(graphsim.SampleTargetTenant)
	if len(src.ServicePrincipals) != 0 || len(sim.Applications(graphsim.SampleSourceTenant)) != 0 || len(dst.Partners) != 0 {
		t.Fatalf("left behind: service principals %+v, applications %v, target partners %+v", src.ServicePrincipals,
			sim.Applications(graphsim.SampleSourceTenant), dst.Partners)
	}
	if len(src.Partners) != 1 || src.Partners[0].OutboundAllowed == nil || *src.Partners[0].OutboundAllowed {
		t.Fatalf("the pre-existing source partner: %+v", src.Partners)
	}
	if trust, _ := json.Marshal(src.Partners[0].InboundTrust); string(trust) != `{"isCompliantDeviceAccepted":true,"isMfaAccepted":true}` {
		t.Fatalf("the pre-existing partner's B2B settings changed: %s", trust)
	}
	if after := deletedInTarget(sim); fmt.Sprint(after) != fmt.Sprint(synced) {
		t.Fatalf("the synchronized accounts changed: before %v, after %v", synced, after)
	}

	// The offboarded configuration leaves the harvester's list after one
	// last harvest, which still collects its records.
	logsRead := func() int { return sim.CountRequests("GET", "/auditLogs/provisioning", "") }
	n := logsRead()
	records := filepath.Join(t.TempDir(), "records.jsonl")
	if out, errOut, code := ctsync(t, env, "harvest", "--once", "--out", records); code != 0 || logsRead() == n || lines(t, records) == 0 {
		t.Fatalf("the last harvest: exit %d, %d log reads, %d records\n%s\n%s", code, logsRead()-n, lines(t, records), out, errOut)
	}
	n = logsRead()
	if out, errOut, code := ctsync(t, env, "harvest", "--once", "--out", records); code != 0 || logsRead() != n {
		t.Fatalf("a harvest after the last one: exit %d, %d log reads\n%s\n%s", code, logsRead()-n, out, errOut)
	}

	before = len(sim.Requests())
	out, errOut, code = ctsync(t, env, append(offboardCmd, "--wait")...)
	if code != 0 || !strings.Contains(out, "nothing to offboard") {
		t.Fatalf("second offboard: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := teardownWrites(sim, before); len(w) != 0 {
		t.Fatalf("the second offboard wrote %v", w)
	}
}

// kill -9 of `serve` right after each teardown write reached the emulator
// (the change made, the answer never read): a restarted serve finishes the
// offboarding, leaves nothing behind, and makes no write twice.
func TestOffboardingResumesAfterAKillAtEveryWrite(t *testing.T) {
	for _, at := range []struct {
		name                 string
		method, path, tenant string
		skip                 int
	}{
		{"job", "DELETE", "/synchronization/jobs/", graphsim.SampleSourceTenant, 0},
		{"servicePrincipal", "DELETE", "/servicePrincipals/", graphsim.SampleSourceTenant, 1},
		{"application", "DELETE", "/applications/", graphsim.SampleSourceTenant, 0},
		{"identitySynchronization", "DELETE", "/identitySynchronization", graphsim.SampleTargetTenant, 0},
		{"target partner", "DELETE", "/partners/", graphsim.SampleTargetTenant, 1},
		{"source partner", "PATCH", "/partners/", graphsim.SampleSourceTenant, 0},
	} {
		t.Run(at.name, func(t *testing.T) {
			sim, env := onboardedWithAPreexistingSourcePartner(t)
			env = append(env, "CTSYNC_LOCK=1s")
			before := len(sim.Requests())
			inFlight := make(chan string, 1)
			sim.Inject(graphsim.Fault{Method: at.method, PathContains: at.path, Tenant: at.tenant, Skip: at.skip, Times: 1,
				HangAfterCommit: true, Arrived: inFlight})
			if out, errOut, code := ctsync(t, env, offboardCmd...); code != 0 {
				t.Fatalf("queue the offboarding: exit %d\n%s\n%s", code, out, errOut)
			}
			first, logs := background(t, env, "serve", "--harvest-interval", "1h")
			arrival(t, inFlight, at.name+" write", logs)
			killHard(t, first)

			_, logs = background(t, env, "serve", "--harvest-interval", "1h")
			waitFor(t, "the offboarding to complete after the restart", func() bool {
				out, _, _ := ctsync(t, env, "status", "--output", "json")
				var res struct {
					Onboardings []struct{ Kind, State string }
				}
				if json.Unmarshal([]byte(out), &res) != nil {
					return false
				}
				for _, o := range res.Onboardings {
					if o.Kind == "offboarding" && o.State == "completed" {
						return true
					}
				}
				return false
			})
			want := []string{"source DELETE job 204", "source DELETE servicePrincipal 204", "source DELETE application 204",
				"target DELETE identitySynchronization 204", "target DELETE partner 204", "source PATCH partner 204"}
			got := teardownWrites(sim, before)
			// The interrupted write's answer never arrived: the emulator
			// recorded it without a status.
			for i, w := range got {
				got[i] = strings.Replace(w, " 0", " 204", 1)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("writes across the kill, in order:\n%s\nwant each once:\n%s\nserve:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), logs.String())
			}
			src, dst := sim.Tenant(graphsim.SampleSourceTenant), sim.Tenant(graphsim.SampleTargetTenant)
			if len(src.ServicePrincipals) != 0 || len(sim.Applications(graphsim.SampleSourceTenant)) != 0 || len(dst.Partners) != 0 ||
				len(src.Partners) != 1 || *src.Partners[0].OutboundAllowed {
				t.Fatalf("left behind: %+v %v %+v %+v", src.ServicePrincipals, sim.Applications(graphsim.SampleSourceTenant), dst.Partners, src.Partners)
			}
		})
	}
}

// A pair marked state: absent in the file is offboarded by apply — shown
// by plan first, refused without a terminal and without --yes — and the
// other pairs of the file are left untouched. Dropping a pair from the file
// deletes nothing: plan says it is no longer managed.
func TestStateAbsentOffboardsThatPairOnly(t *testing.T) {
	sim, env := simEnv(t, graphsim.Options{AppReplicationDelay: 100 * time.Millisecond, JobReplicationDelay: 100 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond, InitialCycleDelay: 100 * time.Millisecond})
	pairs := sim.AddTenantPairs(2)
	pairYAML := func(i int, p graphsim.Pair, state string) string {
		y := fmt.Sprintf("  - name: Pair %d\n    sourceTenant: %s\n    targetTenant: %s\n", i, p.Source, p.Target)
		if state == "absent" {
			return y + "    state: absent\n"
		}
		return y + fmt.Sprintf("    users: [%s, %s]\n    groups: [%s]\n", p.Users[0], p.Users[1], p.Group)
	}
	write := func(body string) string {
		path := fmt.Sprintf("%s/ctsync.yaml", t.TempDir())
		if err := os.WriteFile(path, []byte("apiVersion: ctsync/v1\npairs:\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	both := write(pairYAML(0, pairs[0], "") + pairYAML(1, pairs[1], ""))
	if out, errOut, code := ctsync(t, env, "apply", "-f", both, "--wait"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}

	absent := write(pairYAML(0, pairs[0], "absent") + pairYAML(1, pairs[1], ""))
	out, errOut, code := ctsync(t, env, "plan", "-f", absent)
	if code != 2 || !strings.Contains(out, "OFFBOARD (state: absent)") || !strings.Contains(out, "- source synchronization job") ||
		!strings.Contains(out, "Synchronized accounts stay") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	before := len(sim.Requests())
	out, errOut, code = ctsync(t, env, "apply", "-f", absent, "--wait")
	if code != 1 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("apply without a terminal and without --yes: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := writes(sim, before); len(w) != 0 {
		t.Fatalf("the refused apply wrote %v", w)
	}
	out, errOut, code = ctsync(t, env, "apply", "-f", absent, "--yes", "--wait")
	if code != 0 || !strings.Contains(out, `✓ "Pair 0" offboarded`) {
		t.Fatalf("apply --yes: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, r := range sim.Requests()[before:] {
		if r.Method != "GET" && r.Version != "" && (strings.EqualFold(r.Tenant, pairs[1].Source) || strings.EqualFold(r.Tenant, pairs[1].Target)) {
			t.Fatalf("offboarding pair 0 wrote to pair 1: %s %s", r.Method, r.Path)
		}
	}
	gone, kept := sim.Tenant(pairs[0].Source), sim.Tenant(pairs[1].Source)
	if len(gone.ServicePrincipals) != 0 || len(kept.ServicePrincipals) != 1 || kept.ServicePrincipals[0].Jobs[0].ScheduleState != "Active" {
		t.Fatalf("pair 0: %+v\npair 1: %+v", gone.ServicePrincipals, kept.ServicePrincipals)
	}
	if out, errOut, code = ctsync(t, env, "plan", "-f", absent); code != 0 || !strings.Contains(out, "offboarded: nothing left to delete") {
		t.Fatalf("plan after the offboarding: exit %d\n%s\n%s", code, out, errOut)
	}

	// Pair 1 leaves the file: nothing is deleted, plan says so.
	only0 := write(pairYAML(0, pairs[0], "absent"))
	out, errOut, code = ctsync(t, env, "plan", "-f", only0)
	if code != 0 || !strings.Contains(out, `pair "Pair 1"`) || !strings.Contains(out, "no longer in the file: nothing of it is deleted") {
		t.Fatalf("plan without pair 1: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A ticket system offboards through the API in two steps: a POST without a
// digest answers the preview and changes nothing; a POST confirming a
// digest that no longer matches is refused with the current preview; the
// POST confirming the preview's digest carries it out, followed at
// /offboardings/{id}.
func TestOffboardingOverTheAPIIsPreviewedThenConfirmed(t *testing.T) {
	sim, env := onboardedWithAPreexistingSourcePartner(t)
	env = append(env, "CTSYNC_INTAKE_TOKEN="+intakeToken)
	base, logs := serveAPI(t, env)
	ask := func(extra string) string {
		return `{"sourceTenantId":"` + graphsim.SampleSourceTenant + `","targetTenantId":"` + graphsim.SampleTargetTenant +
			`","removePartners":true,"requestedBy":"CHG0051120"` + extra + `}`
	}
	before := len(sim.Requests())
	status, _, preview := call(t, base, "POST", "/offboardings", "application/json", ask(""), intakeToken)
	digest, _ := preview["digest"].(string)
	if status != 200 || preview["pending"] != true || digest == "" || !strings.Contains(fmt.Sprint(preview["preview"]), "synchronization job") {
		t.Fatalf("preview: %d %v", status, preview)
	}
	stale := "sha256:" + strings.Repeat("0", 64)
	if status, _, out := call(t, base, "POST", "/offboardings", "application/json", ask(`,"digest":"`+stale+`"`), intakeToken); status != 409 || out["digest"] != digest {
		t.Fatalf("a stale digest: %d %v", status, out)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"sourceTenantId":"contoso","targetTenantId":"` + graphsim.SampleTargetTenant + `"}`, "sourceTenantId"},
		{ask(`,"digest":"md5:1"`), "digest"},
	} {
		if status, _, out := call(t, base, "POST", "/offboardings", "application/json", tc.body, intakeToken); status != 400 || out["field"] != tc.field {
			t.Fatalf("%s: %d %v", tc.body, status, out)
		}
	}
	if w := teardownWrites(sim, before); len(w) != 0 {
		t.Fatalf("previews and refusals wrote %v", w)
	}

	status, header, accepted := call(t, base, "POST", "/offboardings", "application/json", ask(`,"digest":"`+digest+`"`), intakeToken)
	if status != 202 || header.Get("Location") != "/offboardings/"+fmt.Sprint(accepted["onboardingId"]) {
		t.Fatalf("confirmed: %d %v %v", status, header, accepted)
	}
	waitFor(t, "the offboarding to complete", func() bool {
		_, _, st := call(t, base, "GET", header.Get("Location"), "", "", intakeToken)
		o, _ := st["onboarding"].(map[string]any)
		return o["state"] == "completed" && o["kind"] == "offboarding"
	})
	if len(sim.Tenant(graphsim.SampleSourceTenant).ServicePrincipals) != 0 {
		t.Fatalf("the configuration app is still there\n%s", logs.String())
	}
	if status, _, out := call(t, base, "POST", "/offboardings", "application/json", ask(""), intakeToken); status != 200 || out["pending"] != false {
		t.Fatalf("after the offboarding: %d %v", status, out)
	}
}

// A teardown step that cannot pass stops the offboarding, says what to
// grant, and raises step.failed like an onboarding's step would; nothing
// after it runs.
func TestAnOffboardingStepThatIsDeniedSaysWhatToGrant(t *testing.T) {
	sim, env := onboardedWithAPreexistingSourcePartner(t)
	sim.Revoke(graphsim.SampleSourceTenant, "Synchronization.ReadWrite.All", "Application.ReadWrite.OwnedBy")
	before := len(sim.Requests())
	out, errOut, code := ctsync(t, env, append(offboardCmd, "--wait")...)
	if code != 1 || !strings.Contains(out, "✗ offboarding failed at step delete-sync-job") || !strings.Contains(out, "Synchronization.ReadWrite.All") ||
		!strings.Contains(errOut, `"alert_type":"step.failed"`) {
		t.Fatalf("offboard: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := teardownWrites(sim, before); strings.Join(w, ",") != "source DELETE job 403" {
		t.Fatalf("after the denied job delete: %v; want nothing else tried", w)
	}
}
