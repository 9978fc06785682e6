package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/localdb"
)

// simEnv runs the Graph emulator in this process (so the test can read its
// requests and state) with ctsync's fast test settings and a fresh state.
func simEnv(t *testing.T, opts graphsim.Options) (*graphsim.Server, []string) {
	sim, env := simulator(t, opts)
	return sim, append(append(env, fast...), "CTSYNC_STATE_DIR="+t.TempDir())
}

// desiredFile writes the example pair with the given extra keys.
func desiredFile(t *testing.T, users, groups []string, extra string) string {
	t.Helper()
	q := func(ids []string) string { return "[" + strings.Join(ids, ", ") + "]" }
	body := fmt.Sprintf(`apiVersion: ctsync/v1
pairs:
  - name: Contoso to Fabrikam
    sourceTenant: %s
    targetTenant: %s
    users: %s
    groups: %s
    attributeMappings:
      - target: userType
        constant: Member
        apply: always
      - target: employeeId
        source: employeeId
%s`, graphsim.SampleSourceTenant, graphsim.SampleTargetTenant, q(users), q(groups), extra)
	path := filepath.Join(t.TempDir(), "ctsync.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func stateDirOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "CTSYNC_STATE_DIR="); ok {
			return v
		}
	}
	return ""
}

func writes(sim *graphsim.Server, from int) []string {
	var out []string
	for _, r := range sim.Requests()[from:] {
		if r.Version != "" && r.Method != "GET" {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

var (
	adele, lee, megan, nestor = graphsim.SampleUsers[0], graphsim.SampleUsers[1], graphsim.SampleUsers[2], graphsim.SampleUsers[3]
	marketingOnly             = `    scopingFilters:
      - name: Marketing department
        clauses:
          - attribute: department
            operator: EQUALS
            values: [Marketing]
`
)

// deletedInTarget maps each synchronized source user to whether its target
// user is soft-deleted.
func deletedInTarget(sim *graphsim.Server) map[string]bool {
	out := map[string]bool{}
	for _, u := range sim.Tenant(graphsim.SampleTargetTenant).Users {
		if u.ExternalUser != "" {
			out[u.ExternalUser] = u.Deleted
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The configuration-as-code path end to end, against the emulator with the
// real SDK: apply, a second apply that writes nothing, a narrowed filter
// previewed with the users it removes before anything is written, then
// applied, and only those users soft-deleted.
func TestApplyPlanAndTheDeletionPreview(t *testing.T) {
	sim, env := simEnv(t, graphsim.Options{AppReplicationDelay: 200 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond, InitialCycleDelay: 100 * time.Millisecond})
	file := desiredFile(t, []string{adele.ID, lee.ID}, []string{graphsim.SampleGroup}, "    deleteThreshold: 500\n")

	out, errOut, code := ctsync(t, env, "plan", "-f", file)
	if code != 2 || !strings.Contains(out, "+ source configuration app") || !strings.Contains(out, "attributeMapping employeeId") {
		t.Fatalf("first plan: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = ctsync(t, env, "apply", "-f", file, "--wait")
	if code != 0 || !strings.Contains(out, "converged") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, "all four users in the target", func() bool { return len(deletedInTarget(sim)) == 4 })

	// apply recorded the pair's desired configuration for the drift timer.
	st, err := app.OpenState(stateDirOf(env), localdb.Options{ExistingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pair, ok, err := st.Store.GetPair(context.Background(), graphsim.SampleSourceTenant, graphsim.SampleTargetTenant)
	st.Close()
	if err != nil || !ok || !strings.Contains(string(pair.Desired), `"deleteThreshold":500`) || !strings.Contains(string(pair.Desired), `"target":"employeeId"`) {
		t.Fatalf("pair record %s, %v %v", pair.Desired, ok, err)
	}

	// The PUT carried the whole schema back with the mappings merged in.
	jobID := sim.Tenant(graphsim.SampleSourceTenant).ServicePrincipals[0].Jobs[0].ID
	schema, _ := json.Marshal(sim.JobSchema(graphsim.SampleSourceTenant, jobID))
	for _, want := range []string{`"name":"GROUP_INBOUND_GROUP"`, `"directories":[{`, `"key":"Disposition"`, `"targetAttributeName":"showInAddressList"`,
		`"matchingPriority":1,"source":{"expression":"[objectId]"`, `"flowType":"Always","matchingPriority":0,"source":{"expression":"\"Member\"","name":"Member","parameters":[],"type":"Constant"},"targetAttributeName":"userType"`,
		`"source":{"expression":"[employeeId]","name":"employeeId","parameters":[],"type":"Attribute"},"targetAttributeName":"employeeId"`} {
		if !strings.Contains(string(schema), want) {
			t.Errorf("the schema after apply lacks %s:\n%s", want, schema)
		}
	}
	if n := sim.CountRequests("PATCH", "/schema", ""); n != 0 {
		t.Errorf("%d PATCHes of the schema", n)
	}

	// The same file again: nothing to change, no write at all.
	before := len(sim.Requests())
	out, _, code = ctsync(t, env, "plan", "-f", file)
	if code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("plan after apply: exit %d\n%s", code, out)
	}
	out, _, code = ctsync(t, env, "apply", "-f", file, "--wait")
	if code != 0 || !strings.Contains(out, "nothing to apply") {
		t.Fatalf("second apply: exit %d\n%s", code, out)
	}
	if w := writes(sim, before); len(w) != 0 {
		t.Fatalf("plan and a second apply wrote %v", w)
	}

	// Narrowed to Marketing: Lee and Nestor (Sales) leave, and plan says so
	// by name before anything is written.
	narrowed := desiredFile(t, []string{adele.ID, lee.ID}, []string{graphsim.SampleGroup}, marketingOnly)
	before = len(sim.Requests())
	out, _, code = ctsync(t, env, "plan", "-f", narrowed)
	if code != 2 || !strings.Contains(out, "2 user(s) leave the scope") || !strings.Contains(out, lee.DisplayName+" ("+lee.ID+")") ||
		!strings.Contains(out, nestor.DisplayName) || strings.Contains(out, adele.DisplayName+" (") || strings.Contains(out, "WARNING") {
		t.Fatalf("narrowed plan: exit %d\n%s", code, out)
	}
	jsonOut, _, code := ctsync(t, env, "plan", "-f", narrowed, "--output", "json")
	var pj struct {
		Pending, Removes bool
		Pairs            []struct {
			Leaving []struct{ ID, DisplayName string }
		}
	}
	conforms(t, "plan", jsonOut)
	if code != 2 || json.Unmarshal([]byte(jsonOut), &pj) != nil || !pj.Pending || !pj.Removes || len(pj.Pairs[0].Leaving) != 2 {
		t.Fatalf("plan --output json: exit %d\n%s", code, jsonOut)
	}
	// Without a terminal and without --yes, apply refuses.
	out, errOut, code = ctsync(t, env, "apply", "-f", narrowed)
	if code != 1 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("apply without --yes: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := writes(sim, before); len(w) != 0 {
		t.Fatalf("plan and a refused apply wrote %v", w)
	}
	out, errOut, code = ctsync(t, env, "apply", "-f", narrowed, "--yes", "--wait")
	if code != 0 {
		t.Fatalf("apply --yes: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, "Lee and Nestor soft-deleted", func() bool {
		d := deletedInTarget(sim)
		return d[lee.ID] && d[nestor.ID]
	})
	if d := deletedInTarget(sim); d[adele.ID] || d[megan.ID] {
		t.Fatalf("deleted beyond the preview: %v", d)
	}
	schema, _ = json.Marshal(sim.JobSchema(graphsim.SampleSourceTenant, jobID))
	if !strings.Contains(string(schema), `"groups":[{"clauses":[{"operatorName":"EQUALS","sourceOperandName":"department","targetOperand":{"values":["Marketing"]}},{"operatorName":"EQUALS","sourceOperandName":"alternativeSecurityIds","targetOperand":{"values":["None"]}}],"name":"Marketing department"}]`) {
		t.Fatalf("the scope is not the filter AND the built-in restriction:\n%s", schema)
	}
}

// Crossing the delete threshold quarantines the job, deletes nobody, and
// raises the alert naming the held users and the command that approves
// the deletions.
func TestTheDeleteThresholdHoldsDeletionsUntilApproved(t *testing.T) {
	sim, env := simEnv(t, graphsim.Options{AppReplicationDelay: 200 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond, InitialCycleDelay: 100 * time.Millisecond})
	file := desiredFile(t, []string{adele.ID, lee.ID}, []string{graphsim.SampleGroup}, "    deleteThreshold: 2\n")
	if out, errOut, code := ctsync(t, env, "apply", "-f", file, "--wait"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, "all four users in the target", func() bool { return len(deletedInTarget(sim)) == 4 })

	narrowed := desiredFile(t, []string{adele.ID, lee.ID}, []string{graphsim.SampleGroup}, marketingOnly+"    deleteThreshold: 2\n")
	out, _, code := ctsync(t, env, "plan", "-f", narrowed)
	if code != 2 || !strings.Contains(out, "WARNING: 2 deletions reach this pair's deleteThreshold of 2") || !strings.Contains(out, "ctsync approve-deletes") {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	// The monitor raises the alert once the job is held, in whichever
	// process runs its check: apply --wait's, or serve's afterwards.
	out, errOut, code := ctsync(t, env, "apply", "-f", narrowed, "--yes", "--wait")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, "the job in quarantine", func() bool {
		return sim.Tenant(graphsim.SampleSourceTenant).ServicePrincipals[0].Jobs[0].QuarantineReason == "TooManyDeletes"
	})
	if d := deletedInTarget(sim); d[lee.ID] || d[nestor.ID] {
		t.Fatalf("the threshold did not hold the deletions back: %v", d)
	}
	if !strings.Contains(errOut, `"alert_type":"sync.quarantined"`) {
		// The monitor may have read the job before the quarantining cycle
		// and stopped at steady state; the next onboarding of the pair
		// reads the quarantine at its first check and alerts then.
		more := desiredFile(t, []string{adele.ID, lee.ID}, []string{graphsim.SampleGroup},
			"      - target: jobTitle\n        source: jobTitle\n"+marketingOnly+"    deleteThreshold: 2\n")
		_, errOut, _ = ctsync(t, env, "apply", "-f", more, "--yes", "--wait")
	}
	if !strings.Contains(errOut, `"alert_type":"sync.quarantined"`) {
		serve, logs := background(t, env, "serve", "--harvest-interval", "0")
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), `"alert_type":"sync.quarantined"`); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				st, _, _ := ctsync(t, env, "status")
				t.Fatalf("no quarantine alert; apply said:\n%s\nserve said:\n%s\nstatus:\n%s", errOut, logs.String(), st)
			}
		}
		killHard(t, serve)
		errOut = logs.String()
	}
	if !strings.Contains(errOut, `"alert_type":"sync.quarantined"`) || !strings.Contains(errOut, "approve-deletes --source-tenant "+graphsim.SampleSourceTenant) {
		t.Fatalf("no quarantine alert naming approve-deletes:\n%s", errOut)
	}
	// The alert names each held user, from the logs' StagedDelete records.
	for _, u := range []graphsim.UserSpec{lee, nestor} {
		if !strings.Contains(errOut, fmt.Sprintf("%s (%s)", u.DisplayName, u.ID)) || !strings.Contains(errOut, `\"heldDeletionCount\":2`) {
			t.Fatalf("the quarantine alert does not name %s among 2 held deletions:\n%s", u.DisplayName, errOut)
		}
	}

	out, errOut, code = ctsync(t, env, "approve-deletes", "--source-tenant", graphsim.SampleSourceTenant, "--target-tenant", graphsim.SampleTargetTenant,
		"--name", "Contoso to Fabrikam")
	if code != 1 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("approve-deletes without a terminal: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = ctsync(t, env, "approve-deletes", "--source-tenant", graphsim.SampleSourceTenant, "--target-tenant", graphsim.SampleTargetTenant,
		"--name", "Contoso to Fabrikam", "--yes")
	if code != 0 || !strings.Contains(out, "approved") {
		t.Fatalf("approve-deletes: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, "Lee and Nestor soft-deleted after the approval", func() bool {
		d := deletedInTarget(sim)
		return d[lee.ID] && d[nestor.ID]
	})
}
