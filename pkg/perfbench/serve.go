package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
)

// serveRun is `ctsync serve` (the built binary, default settings) carrying
// out n onboardings of distinct tenant pairs posted to its API at once.
type serveRun struct {
	pairs   int
	wall    time.Duration // first POST to the last onboarding completed
	peakRSS int64         // KiB, VmHWM
	maxFDs  int
}

const benchToken = "perfbench-0123456789abcdef0123456789abcdef"

// buildCtsync builds the command once for the serve rows.
func buildCtsync(dir string) (string, error) {
	bin := filepath.Join(dir, "ctsync")
	cmd := exec.Command("go", "build", "-o", bin, "./functions")
	cmd.Stderr = os.Stderr
	return bin, cmd.Run()
}

// buildCtsyncInTemp builds the ctsync binary in a temporary directory that
// cleanup removes.
func buildCtsyncInTemp() (string, func(), error) {
	dir, err := os.MkdirTemp("", "perfbench-bin")
	if err != nil {
		return "", nil, err
	}
	bin, err := buildCtsync(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

func measureServe(bin string, n int, latency, replication time.Duration) (serveRun, error) {
	sim, err := graphsim.Start(graphsim.Options{AppReplicationDelay: replication, JobReplicationDelay: replication,
		CycleInterval: time.Hour, InitialCycleDelay: time.Hour, OnDemandPerWindow: -1})
	if err != nil {
		return serveRun{}, err
	}
	defer sim.Close()
	pairs := sim.AddTenantPairs(n)
	if latency > 0 {
		sim.Inject(graphsim.Fault{Latency: latency})
	}
	dir, err := os.MkdirTemp("", "perfbench-serve")
	if err != nil {
		return serveRun{}, err
	}
	defer os.RemoveAll(dir)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, sim.CA.CertPEM, 0o600); err != nil {
		return serveRun{}, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return serveRun{}, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--listen", addr, "--harvest-interval", "0")
	cmd.Env = []string{"HOME=" + dir, "CTSYNC_STATE_DIR=" + filepath.Join(dir, "state"), "CTSYNC_INTAKE_TOKEN=" + benchToken,
		"AZURE_AUTHORITY_HOST=" + sim.URL + "/", "CTSYNC_GRAPH_ENDPOINT=" + sim.URL, "SSL_CERT_FILE=" + ca,
		"AZURE_CLIENT_ID=" + sim.ClientID(), "AZURE_CLIENT_SECRET=" + sim.ClientSecret(), "CTSYNC_LOG_LEVEL=error"}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return serveRun{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	if err := waitUp(client, base); err != nil {
		return serveRun{}, fmt.Errorf("%w\n%s", err, logs.String())
	}

	run := serveRun{pairs: n}
	var mu sync.Mutex
	sample := func() {
		mu.Lock()
		defer mu.Unlock()
		if rss := vmHWM(cmd.Process.Pid); rss > run.peakRSS {
			run.peakRSS = rss
		}
		if fds := openFDs(cmd.Process.Pid); fds > run.maxFDs {
			run.maxFDs = fds
		}
	}
	// Sampled all along, from the first request to the last completion.
	stopSampling := make(chan struct{})
	defer close(stopSampling)
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	start := time.Now()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i, p := range pairs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			body, _ := json.Marshal(map[string]any{"sourceTenantId": p.Source, "targetTenantId": p.Target,
				"configurationName": fmt.Sprintf("Pair %d", i), "users": p.Users, "groups": []string{p.Group}})
			id, err := post(client, base, body)
			ids[i] = id
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return run, err
	}
	// Completion is read from the state directory (as `ctsync status` would),
	// not over the API, so the measurement adds no load to the process
	// measured.
	state, err := app.OpenState(filepath.Join(dir, "state"), localdb.Options{ExistingOnly: true})
	if err != nil {
		return run, err
	}
	defer state.Close()
	deadline := time.Now().Add(time.Duration(n)*2*time.Second + 5*time.Minute)
	for {
		list, err := state.Store.ListOnboardings(context.Background(), n+1)
		if err != nil {
			return run, err
		}
		done := 0
		for _, o := range list {
			switch o.State {
			case store.StateCompleted:
				done++
			case store.StateFailed:
				return run, fmt.Errorf("onboarding %s failed at %s: %s\n%s", o.ID, o.Step, o.Detail, logs.String())
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			return run, fmt.Errorf("%d of %d onboardings unfinished after %s", n-done, n, time.Since(start).Round(time.Second))
		}
		if n <= 10 {
			time.Sleep(20 * time.Millisecond)
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}
	run.wall = time.Since(start)
	sample()
	if os.Getenv("BENCH_VERBOSE") != "" {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "Rss") || strings.HasPrefix(line, "VmHWM") || strings.HasPrefix(line, "Threads") {
				fmt.Fprintln(os.Stderr, "  ", line)
			}
		}
	}
	return run, nil
}

func waitUp(client *http.Client, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/onboardings/00000000-0000-4000-8000-000000000000")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("serve --listen did not come up")
}

func post(client *http.Client, base string, body []byte) (string, error) {
	req, _ := http.NewRequest("POST", base+"/onboardings", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		OnboardingID string `json:"onboardingId"`
		Error        string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST /onboardings: %d %s", resp.StatusCode, out.Error)
	}
	return out.OnboardingID, nil
}

// vmHWM is a process's peak resident memory in KiB.
func vmHWM(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func openFDs(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(entries)
}
