package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/graphsim"
)

// fanOutFile writes a desired-state file fanning the hub out to spokes.
func fanOutFile(t *testing.T, h graphsim.HubAndSpokes) string {
	t.Helper()
	body := fmt.Sprintf("apiVersion: ctsync/v1\nfanOut:\n  - hub: %s\n    name: \"Hub to {target}\"\n    users: [%s]\n    spokes:\n", h.Hub, h.Users[0])
	for _, s := range h.Spokes {
		body += "      - " + s + "\n"
	}
	path := filepath.Join(t.TempDir(), "fanout.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A hub fans out to 200 spokes under a write limit scaled down so that the
// hub's writes span several windows: every pair converges with nothing
// duplicated, the run takes at least as long as the limit allows (the
// writes were paced, not bunched), and no write sent after a 429 reached
// the hub before that 429's Retry-After.
func TestAFanOutTo200SpokesIsPacedUnderTheHubsWriteLimit(t *testing.T) {
	const spokes, limit, window = 200, 120, 2 * time.Second
	sim, graphEnv := emptySimulator(t, graphsim.Options{WritesPerWindow: limit, WriteWindow: window,
		AppReplicationDelay: 50 * time.Millisecond, JobReplicationDelay: 50 * time.Millisecond, CycleInterval: time.Hour})
	h := sim.AddHubAndSpokes(spokes)
	env := append(append(graphEnv, fast...), "CTSYNC_STATE_DIR="+t.TempDir(), "CTSYNC_MONITOR_INTERVAL=1h",
		fmt.Sprintf("CTSYNC_TENANT_WRITES=%d/%s", limit, window))
	file := fanOutFile(t, h)

	out, errOut, code := ctsync(t, env, "plan", "-f", file)
	if code != 2 || strings.Count(out, "+ source configuration app") != spokes {
		t.Fatalf("plan: exit %d\n%s\n%s", code, tail(out, 2000), errOut)
	}
	// A 429 of Graph's own, mid-run, which ctsync must wait out.
	sim.Inject(graphsim.Fault{Method: "POST", PathContains: "/appRoleAssignedTo", Tenant: h.Hub, Status: 429, RetryAfter: "1.5", Skip: 40, Times: 1})
	before := len(sim.Requests())
	start := time.Now()
	out, errOut, code = ctsync(t, env, "apply", "-f", file, "--wait", "--timeout", "10m")
	took := time.Since(start)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("progress: %d/%d done (0 failed)", spokes, spokes)) {
		t.Fatalf("apply: exit %d after %s\n%s\n%s", code, took, tail(out, 3000), tail(errOut, 3000))
	}

	// Nothing duplicated: one app, one job, one assignment per spoke; one
	// partner configuration per spoke in the hub and the hub in each spoke.
	hub := sim.Tenant(h.Hub)
	if len(hub.ServicePrincipals) != spokes || len(hub.Partners) != spokes {
		t.Fatalf("the hub has %d configuration apps and %d partners for %d spokes", len(hub.ServicePrincipals), len(hub.Partners), spokes)
	}
	for _, sp := range hub.ServicePrincipals {
		if len(sp.Jobs) != 1 || sp.Jobs[0].ScheduleState != "Active" || len(sp.Assignments) != 1 {
			t.Fatalf("configuration %s: %d jobs, %d assignments", sp.DisplayName, len(sp.Jobs), len(sp.Assignments))
		}
	}
	for _, s := range h.Spokes[:10] {
		if p := sim.Tenant(s).Partners; len(p) != 1 || p[0].IdentitySync == nil {
			t.Fatalf("spoke %s: %+v", s, p)
		}
	}

	// Paced, not bunched: the hub's accepted writes could not have fitted
	// in less time than the limit allows.
	type write struct {
		at       time.Time
		status   int
		retry    time.Duration
		seen     int
		accepted bool
	}
	var writes []write
	for _, r := range sim.Requests()[before:] {
		if r.Version == "" || r.Method == "GET" || !strings.EqualFold(r.Tenant, h.Hub) {
			continue
		}
		w := write{at: r.Time, status: r.Status, accepted: r.Status >= 200 && r.Status < 300}
		w.seen, _ = strconv.Atoi(r.ThrottlesSeen)
		if secs, err := strconv.ParseFloat(r.RetryAfter, 64); err == nil {
			w.retry = time.Duration(secs * float64(time.Second))
		}
		writes = append(writes, w)
	}
	sort.SliceStable(writes, func(i, j int) bool { return writes[i].at.Before(writes[j].at) })
	accepted := 0
	var throttles []write
	for _, w := range writes {
		if w.accepted {
			accepted++
		}
		if w.status == 429 {
			throttles = append(throttles, w)
		}
	}
	minimum := time.Duration((accepted-1)/limit) * window
	t.Logf("%d spokes: %d hub writes accepted, %d answered 429; %s, limit-bound minimum %s", spokes, accepted, len(throttles), took.Round(time.Millisecond), minimum)
	if minimum < 3*window {
		t.Fatalf("the fan-out spans %s, fewer than three windows of %s: scale the limit down", minimum, window)
	}
	if took < minimum {
		t.Fatalf("%d writes in %s: faster than the limit allows (%s), so they were not paced", accepted, took, minimum)
	}
	if len(throttles) == 0 {
		t.Fatal("the injected 429 never reached ctsync")
	}
	// Every 429 honoured: a write sent after ctsync had seen the k-th 429
	// reached the hub only after that 429's Retry-After.
	for k, th := range throttles {
		for _, w := range writes {
			if w.seen > k && w.at.Before(th.at.Add(th.retry)) && w.at.After(th.at) {
				t.Fatalf("a write sent after 429 #%d (at %s, Retry-After %s) reached the hub at %s", k+1, th.at.Format("15:04:05.000"),
					th.retry, w.at.Format("15:04:05.000"))
			}
		}
	}

	// status summarises by state.
	out, _, _ = ctsync(t, env, "status")
	if !strings.Contains(out, fmt.Sprintf("%d in all: %d completed", spokes, spokes)) {
		t.Fatalf("status:\n%s", tail(out, 1500))
	}
}
