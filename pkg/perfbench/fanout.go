package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/pkg/graphsim"
)

// fanOutRun is one `ctsync apply --wait` of a hub fanned out to spokes
// under a per-tenant write limit.
type fanOutRun struct {
	spokes        int
	wall          time.Duration
	hubWrites     int // accepted by the hub
	throttled     int // 429s the hub answered
	limit         int
	window        time.Duration
	peakRSS       int64 // KiB, of the ctsync process
	output        string
	limitBoundMin time.Duration // hub writes ÷ allowed rate
}

// measureFanOut applies a file fanning a hub out to n spokes, the emulator
// limiting each tenant's writes to limit per window and ctsync pacing them
// to the same budget, and measures the whole apply --wait.
func measureFanOut(bin string, n, limit int, window time.Duration) (fanOutRun, error) {
	run := fanOutRun{spokes: n, limit: limit, window: window}
	sim, err := graphsim.Start(graphsim.Options{WritesPerWindow: limit, WriteWindow: window, CycleInterval: time.Hour,
		InitialCycleDelay: time.Hour, OnDemandPerWindow: -1})
	if err != nil {
		return run, err
	}
	defer sim.Close()
	h := sim.AddHubAndSpokes(n)
	dir, err := os.MkdirTemp("", "perfbench-fanout")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(dir)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, sim.CA.CertPEM, 0o600); err != nil {
		return run, err
	}
	var file strings.Builder
	fmt.Fprintf(&file, "apiVersion: ctsync/v1\nfanOut:\n  - hub: %s\n    name: \"Hub to {target}\"\n    users: [%s]\n    spokes:\n", h.Hub, h.Users[0])
	for _, s := range h.Spokes {
		fmt.Fprintf(&file, "      - %s\n", s)
	}
	path := filepath.Join(dir, "fanout.yaml")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		return run, err
	}
	cmd := exec.Command(bin, "apply", "-f", path, "--wait", "--yes", "--timeout", "60m")
	cmd.Env = []string{"HOME=" + dir, "CTSYNC_STATE_DIR=" + filepath.Join(dir, "state"), "CTSYNC_MONITOR_INTERVAL=1h",
		fmt.Sprintf("CTSYNC_TENANT_WRITES=%d/%s", limit, window), "CTSYNC_REPLICATION_POLL=100ms",
		"AZURE_AUTHORITY_HOST=" + sim.URL + "/", "CTSYNC_GRAPH_ENDPOINT=" + sim.URL, "SSL_CERT_FILE=" + ca,
		"AZURE_CLIENT_ID=" + sim.ClientID(), "AZURE_CLIENT_SECRET=" + sim.ClientSecret(), "CTSYNC_LOG_LEVEL=error"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run, err
	}
	var mu sync.Mutex
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				mu.Lock()
				if rss := vmHWM(cmd.Process.Pid); rss > run.peakRSS {
					run.peakRSS = rss
				}
				mu.Unlock()
			}
		}
	}()
	err = cmd.Wait()
	run.wall = time.Since(start)
	close(stop)
	<-sampled
	run.output = out.String()
	if err != nil {
		return run, fmt.Errorf("apply: %v\n%s", err, tailOf(run.output, 3000))
	}
	for _, r := range sim.Requests() {
		if r.Version == "" || r.Method == "GET" || !strings.EqualFold(r.Tenant, h.Hub) {
			continue
		}
		switch {
		case r.Status >= 200 && r.Status < 300:
			run.hubWrites++
		case r.Status == 429:
			run.throttled++
		}
	}
	run.limitBoundMin = time.Duration(float64(run.hubWrites) / float64(limit) * float64(window))
	return run, nil
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
