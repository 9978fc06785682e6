package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/onboarding"
)

// fsyncRun counts the real fsync and fdatasync calls of one onboarding on
// the local host (strace in a child process, default durability settings)
// against the step runs it settled — once the state is open, as in a
// running `serve`; opening a fresh state directory (creating the tables)
// is counted apart.
type fsyncRun struct {
	fsyncs, stepRuns, open int
}

func measureFsyncs() (fsyncRun, error) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		return fsyncRun{}, fmt.Errorf("strace is not installed (apt-get install strace)")
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("perfbench-strace-%d", os.Getpid()))
	defer os.Remove(out)
	cmd := exec.Command(strace, "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", out, self(), "child", "fsync-onboard")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fsyncRun{}, fmt.Errorf("strace child: %w", err)
	}
	var r fsyncRun
	if _, err := fmt.Sscan(strings.TrimSpace(stdout.String()), &r.stepRuns); err != nil {
		return r, fmt.Errorf("child printed %q", stdout.String())
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		return r, err
	}
	// One line per call ("resumed" halves of interrupted calls left out);
	// the child fsyncs a marker file once its state is open.
	call := regexp.MustCompile(`\b(fsync|fdatasync)\(\d+<([^>]*)>`)
	afterOpen := false
	for _, line := range strings.Split(string(trace), "\n") {
		m := call.FindStringSubmatch(line)
		if m == nil || strings.Contains(line, "resumed>") {
			continue
		}
		switch {
		case strings.HasSuffix(m[2], markerName):
			afterOpen = true
		case afterOpen:
			r.fsyncs++
		default:
			r.open++
		}
	}
	return r, nil
}

// fsyncChild runs one onboarding and prints how many step runs settled.
func fsyncChild() error {
	sim, err := graphsim.Start(graphsim.Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 300 * time.Millisecond,
		CycleInterval: time.Hour, InitialCycleDelay: time.Hour})
	if err != nil {
		return err
	}
	defer sim.Close()
	sim.AddSampleTenants()
	dir, err := os.MkdirTemp("", "perfbench-fsync")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, err := app.Open(app.Config{StateDir: filepath.Join(dir, "state"),
		Graph: graph.Config{AuthorityHost: sim.URL, GraphEndpoint: sim.URL, ClientID: sim.ClientID(),
			ClientSecret: entra.Redacted(sim.ClientSecret()), RootCAs: sim.CA.Pool()},
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := marker(dir); err != nil {
		return err
	}
	_, steps, err := onboard(a, onboarding.Request{SourceTenantID: graphsim.SampleSourceTenant, TargetTenantID: graphsim.SampleTargetTenant,
		Name: "Contoso to Fabrikam", Users: []string{graphsim.SampleUsers[0].ID}})
	if err != nil {
		return err
	}
	runs := 0
	for _, st := range steps {
		runs += st.Runs
	}
	fmt.Println(runs)
	return nil
}

const markerName = "perfbench-state-open"

// marker fsyncs a file the parent recognises in the trace.
func marker(dir string) error {
	f, err := os.Create(filepath.Join(dir, markerName))
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
