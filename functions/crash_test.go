package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/graphsim"
)

// simulator starts the Graph + login emulator in this process (so a test
// can inject faults and change tenants behind ctsync's back) and returns it
// with the settings that point the ctsync binary at it.
func simulator(t *testing.T, opts graphsim.Options) (*graphsim.Server, []string) {
	t.Helper()
	sim, env := emptySimulator(t, opts)
	sim.AddSampleTenants()
	return sim, env
}

// emptySimulator is simulator without tenants.
func emptySimulator(t *testing.T, opts graphsim.Options) (*graphsim.Server, []string) {
	t.Helper()
	sim, err := graphsim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, sim.CA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, []string{"AZURE_AUTHORITY_HOST=" + sim.URL + "/", "CTSYNC_GRAPH_ENDPOINT=" + sim.URL, "SSL_CERT_FILE=" + ca,
		"AZURE_CLIENT_ID=" + sim.ClientID(), "AZURE_CLIENT_SECRET=" + sim.ClientSecret()}
}

// background starts the ctsync binary with env and returns it with its
// stderr; the test's cleanup kills it if the test has not.
func background(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir()}, env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, logs
}

// killHard sends SIGKILL: no deferred function, no lease release, no
// settlement runs.
func killHard(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func arrival(t *testing.T, ch <-chan string, what string, logs *syncBuffer) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(90 * time.Second):
		t.Fatalf("%s never reached the emulator:\n%s", what, logs.String())
	}
}

// onboardingState polls `ctsync status --json` until the only onboarding
// satisfies done.
func onboardingState(t *testing.T, env []string, what string, logs *syncBuffer, done func(state string) bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, _, _ := ctsync(t, env, "status", "--output", "json")
		var res struct{ Onboardings []struct{ State string } }
		if json.Unmarshal([]byte(out), &res) == nil && len(res.Onboardings) == 1 && done(res.Onboardings[0].State) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen; status: %s\nserve:\n%s", what, out, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kill -9 of `serve` while the configuration app's instantiate call is in
// flight — the app is created, the answer never read. The message's lock is
// short (CTSYNC_LOCK=2s) and was renewed only while that process lived, so
// a restarted serve takes the message back within one lock period (the old
// five-minute lock made this test time out), finds the app the dead process
// created, and finishes with one app and one job.
func TestAKilledServeIsResumedWithinOneLockPeriodWithoutDuplicates(t *testing.T) {
	sim, graph := simulator(t, graphsim.Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond,
		CycleInterval: time.Second})
	inFlight := make(chan string, 1)
	sim.Inject(graphsim.Fault{Method: "POST", PathContains: "/instantiate", Times: 1, HangAfterCommit: true, Arrived: inFlight})
	env := append(append(graph, fast...), "CTSYNC_STATE_DIR="+t.TempDir(), "CTSYNC_LOCK=2s")
	if out, errOut, code := ctsync(t, env, onboardArgs()...); code != 0 {
		t.Fatalf("queue: %d %s %s", code, out, errOut)
	}

	first, logs := background(t, env, "serve", "--harvest-interval", "1h")
	arrival(t, inFlight, "the instantiate call", logs)
	killHard(t, first)

	_, logs = background(t, env, "serve", "--harvest-interval", "1h")
	onboardingState(t, env, "completion after the restart", logs, func(s string) bool { return s == "completed" })

	src := sim.Tenant(graphsim.SampleSourceTenant)
	if len(src.ServicePrincipals) != 1 {
		t.Fatalf("%d configuration apps after the crash; want the one the killed process created", len(src.ServicePrincipals))
	}
	if jobs := src.ServicePrincipals[0].Jobs; len(jobs) != 1 || jobs[0].ScheduleState != "Active" {
		t.Fatalf("jobs: %+v", jobs)
	}
	if n := sim.CountRequests("POST", "/instantiate", graphsim.SampleSourceTenant); n != 1 {
		t.Fatalf("instantiate sent %d times", n)
	}
}

// kill -9 of a harvest in the middle of its third page: its lease is short
// (CTSYNC_HARVEST_LEASE=2s) and no longer renewed, so the next harvest is
// refused — saying who holds the lease, without a misleading summary — until
// the lease lapses, then takes over and delivers every record exactly once:
// the pages the killed harvest wrote are not written again.
func TestAKilledHarvestIsTakenOverAfterOneLeasePeriodAndDeliversEveryRecordOnce(t *testing.T) {
	sim, graph := simulator(t, graphsim.Options{})
	const sp = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
	jobID := "Azure2Azure.00112233445566778899aabbccddeeff." + sp
	start := time.Now().Add(-3 * time.Hour)
	var recs []graphsim.ProvisioningRecord
	for i := range 1200 {
		recs = append(recs, graphsim.ProvisioningRecord{ServicePrincipalID: sp, JobID: jobID, SourceUserID: graphsim.SampleUsers[i%4].ID,
			ActivityDateTime: start.Add(time.Duration(i) * time.Second)})
	}
	sim.AddProvisioningRecords(graphsim.SampleSourceTenant, recs...)
	inFlight := make(chan string, 1)
	sim.Inject(graphsim.Fault{Method: "GET", PathContains: "/auditLogs/provisioning", Skip: 2, Times: 1, Latency: 10 * time.Minute, Arrived: inFlight})

	out := filepath.Join(t.TempDir(), "records.jsonl")
	env := append(graph, "CTSYNC_STATE_DIR="+t.TempDir(), "CTSYNC_HARVEST_LEASE=2s", "CTSYNC_HARVEST_BUDGET=100/1s",
		"CTSYNC_HARVEST_EXTRA="+graphsim.SampleSourceTenant+"/"+sp)
	first, logs := background(t, env, "harvest", "--once", "--out", out)
	arrival(t, inFlight, "the third page's request", logs)
	killHard(t, first)
	if written := lines(t, out); written != 1000 {
		t.Fatalf("the killed harvest wrote %d records; want its two whole pages (1000)", written)
	}

	_, errOut, code := ctsync(t, env, "harvest", "--once", "--out", out)
	if code == 0 || !strings.Contains(errOut, "another harvest is running") || strings.Contains(errOut, "harvested 0") {
		t.Fatalf("a harvest right after the kill: exit %d\n%s", code, errOut)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, errOut, code = ctsync(t, env, "harvest", "--once", "--out", out)
		if code == 0 {
			break
		}
		if !strings.Contains(errOut, "another harvest is running") || time.Now().After(deadline) {
			t.Fatalf("harvest after the lease period: exit %d\n%s", code, errOut)
		}
		time.Sleep(250 * time.Millisecond)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var rec struct{ ID string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("not a record: %s", l)
		}
		seen[rec.ID]++
	}
	want := sim.ProvisioningRecordIDs(graphsim.SampleSourceTenant, sp)
	if len(seen) != len(want) || len(want) != 1200 {
		t.Fatalf("delivered %d distinct records of %d", len(seen), len(want))
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("record %s delivered %d times", id, seen[id])
		}
	}
}

func lines(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(raw, []byte("\n"))
}

// A job deleted in the portal after the onboarding: the monitor's reads
// find it missing for longer than the replication window, raise
// drift.detected, and `status` names it.
func TestStatusSaysWhenTheJobWasDeletedOutsideCtsync(t *testing.T) {
	sim, graph := simulator(t, graphsim.Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond,
		CycleInterval: time.Hour, InitialCycleDelay: time.Hour})
	env := append(append(graph, fast...), "CTSYNC_STATE_DIR="+t.TempDir(), "CTSYNC_REPLICATION_WINDOW=2s", "CTSYNC_MONITOR_INTERVAL=300ms")
	if out, errOut, code := ctsync(t, env, onboardArgs()...); code != 0 {
		t.Fatalf("queue: %d %s %s", code, out, errOut)
	}
	_, logs := background(t, env, "serve", "--harvest-interval", "1h")
	onboardingState(t, env, "completion", logs, func(s string) bool { return s == "completed" })
	if n := sim.DeleteJobs(graphsim.SampleSourceTenant); n != 1 {
		t.Fatalf("deleted %d jobs", n)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, _, _ := ctsync(t, env, "status", "--output", "json")
		var res struct {
			Onboardings []struct{ OnboardingID, Drift string }
		}
		if json.Unmarshal([]byte(list), &res) != nil || len(res.Onboardings) != 1 {
			t.Fatalf("status: %s", list)
		}
		if o := res.Onboardings[0]; o.Drift != "" {
			detail, _, code := ctsync(t, env, "status", o.OnboardingID)
			if code != 0 || !strings.Contains(detail, "job deleted outside ctsync") || !strings.Contains(detail, "to fix") {
				t.Fatalf("status %s: %d\n%s", o.OnboardingID, code, detail)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no drift recorded:\n%s\n%s", list, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"alert_type":"drift.detected"`) {
		t.Fatalf("no drift.detected alert:\n%s", logs.String())
	}
}

// The state directory holds user names and provisioning records: it and
// every file ctsync writes there are its owner's alone. Commands that only
// read create nothing where nothing was.
func TestStateIsPrivateAndReadOnlyCommandsCreateNothing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "never-created")
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"logs", "--since", "1h"}, {"dlq", "list"}} {
		out, errOut, code := ctsync(t, []string{"CTSYNC_STATE_DIR=" + missing}, args...)
		if code != 0 {
			t.Fatalf("%v on a fresh machine: exit %d\n%s%s", args, code, out, errOut)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("%v created %s", args, missing)
		}
	}
	if _, errOut, code := ctsync(t, []string{"CTSYNC_STATE_DIR=" + missing}, "status", "3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64"); code == 0 ||
		!strings.Contains(errOut, "no onboarding") {
		t.Fatalf("status of an unknown onboarding: %d %s", code, errOut)
	}

	_, graph := simulator(t, graphsim.Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond})
	state := filepath.Join(t.TempDir(), "state")
	env := append(append(graph, fast...), "CTSYNC_STATE_DIR="+state)
	if out, errOut, code := ctsync(t, env, append(onboardArgs(), "--wait")...); code != 0 {
		t.Fatalf("onboard: %d %s %s", code, out, errOut)
	}
	time.Sleep(time.Second) // a cycle or two, for records to harvest
	if _, errOut, code := ctsync(t, env, "harvest", "--once", "--out", filepath.Join(state, "provisioning.jsonl")); code != 0 {
		t.Fatalf("harvest: %d %s", code, errOut)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory %v: %v", fi.Mode(), err)
	}
	files := 0
	err = filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		if perm := info.Mode().Perm(); perm != 0o600 {
			return fmt.Errorf("%s has mode %v; want 0600", path, perm)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Fatalf("want the database and the records file in %s, found %d file(s)", state, files)
	}
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
