package main

// The harvester beside a plain net/http + encoding/json pager reading the
// same pages: records per second and peak memory. Each reader runs in its
// own child process, which reports its own peak resident memory (VmHWM;
// getrusage's maxrss would count the parent's pages at the fork); the
// emulator runs in the parent.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
)

const (
	tenant = graphsim.SampleSourceTenant
	sp     = "a4f5b6c7-d8e9-4f0a-8b1c-2d3e4f5a6b7c"
)

type result struct {
	records int
	took    time.Duration
	rssKB   int64
}

// harvestRows measures the harvester beside the plain pager at each size.
func harvestRows(sizes []int) ([]harvestRow, error) {
	var rows []harvestRow
	for _, n := range sizes {
		h, p, err := measure(n)
		if err != nil {
			return nil, err
		}
		rows = append(rows, harvestRow{records: n, harvester: h, pager: p})
	}
	return rows, nil
}

type harvestRow struct {
	records          int
	harvester, pager result
}

func (r result) rate() float64 { return float64(r.records) / r.took.Seconds() }

// measure generates n records in a fresh emulator and times both readers.
func measure(n int) (harvester, pager result, err error) {
	sim, err := graphsim.Start(graphsim.Options{ReportsPerWindow: -1})
	if err != nil {
		return
	}
	defer sim.Close()
	sim.AddSampleTenants()
	end := time.Now().UTC().Add(-time.Minute)
	span := 2 * time.Hour
	sim.GenerateProvisioningRecords(tenant, sp, "Azure2Azure.bench", n, end.Add(-span), span/time.Duration(n), 50)
	dir, err := os.MkdirTemp("", "harvestbench")
	if err != nil {
		return
	}
	defer os.RemoveAll(dir)
	ca := filepath.Join(dir, "ca.pem")
	if err = os.WriteFile(ca, sim.CA.CertPEM, 0o644); err != nil {
		return
	}
	env := append(os.Environ(), "BENCH_URL="+sim.URL, "BENCH_CA="+ca, "BENCH_CLIENT_ID="+sim.ClientID(),
		"BENCH_CLIENT_SECRET="+sim.ClientSecret(), "BENCH_DIR="+dir, "BENCH_SINCE="+end.Add(-span-time.Minute).Format(time.RFC3339Nano))
	if harvester, err = run("harvester", env); err != nil {
		return
	}
	if pager, err = run("pager", env); err != nil {
		return
	}
	if harvester.records != n || pager.records != n {
		err = fmt.Errorf("read %d (harvester) and %d (pager) of %d records", harvester.records, pager.records, n)
	}
	return
}

func run(mode string, env []string) (result, error) {
	cmd := exec.Command(self(), "child", mode)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s: %w", mode, err)
	}
	took := time.Since(start)
	var r result
	if _, err := fmt.Sscan(strings.TrimSpace(out.String()), &r.records, &r.rssKB); err != nil {
		return result{}, fmt.Errorf("%s printed %q", mode, out.String())
	}
	r.took = took
	return r, nil
}

func harvestChild(mode string) error {
	pem, err := os.ReadFile(os.Getenv("BENCH_CA"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ctx := context.Background()
	switch mode {
	case "harvester":
		if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		n, err := harvestAll(ctx, pool)
		fmt.Println(n, vmHWM(os.Getpid()))
		return err
	case "pager":
		n, err := pageAll(ctx, pool)
		fmt.Println(n, vmHWM(os.Getpid()))
		return err
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func harvestAll(ctx context.Context, pool *x509.CertPool) (int, error) {
	base := os.Getenv("BENCH_URL")
	dirs, err := graph.New(graph.Config{AuthorityHost: base, GraphEndpoint: base, ClientID: os.Getenv("BENCH_CLIENT_ID"),
		ClientSecret: entra.Redacted(os.Getenv("BENCH_CLIENT_SECRET")), RootCAs: pool})
	if err != nil {
		return 0, err
	}
	db, err := localdb.Open(filepath.Join(os.Getenv("BENCH_DIR"), "state"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	kv, err := store.NewSQLite(db)
	if err != nil {
		return 0, err
	}
	st := store.New(kv)
	jl, err := harvest.OpenJSONLines(filepath.Join(os.Getenv("BENCH_DIR"), "records.jsonl"))
	if err != nil {
		return 0, err
	}
	defer jl.Close()
	h := harvest.New(dirs, st, []harvest.Sink{jl}, harvest.Options{Budget: harvest.NewBudget(0, 0),
		Extra: []store.Configuration{{SourceTenantID: tenant, ServicePrincipalID: sp, Name: "bench"}}})
	sum, err := h.Run(ctx)
	if err == nil && len(sum.Errors) > 0 {
		err = sum.Errors[0]
	}
	return sum.Delivered, err
}

// pageAll is the baseline: what a hand-written script does.
func pageAll(ctx context.Context, pool *x509.CertPool) (int, error) {
	base := os.Getenv("BENCH_URL")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {os.Getenv("BENCH_CLIENT_ID")},
		"client_secret": {os.Getenv("BENCH_CLIENT_SECRET")}, "scope": {base + "/.default"}}
	resp, err := client.PostForm(base+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		return 0, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	q := url.Values{"$filter": {fmt.Sprintf("servicePrincipal/id eq '%s' and activityDateTime gt %s", sp, os.Getenv("BENCH_SINCE"))},
		"$orderby": {"activityDateTime asc"}, "$top": {"500"}}
	next := base + "/beta/auditLogs/provisioning?" + q.Encode()
	count := 0
	for next != "" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := client.Do(req)
		if err != nil {
			return count, err
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return count, fmt.Errorf("page: HTTP %d: %v", resp.StatusCode, err)
		}
		for _, raw := range page.Value {
			var rec struct {
				ID               string    `json:"id"`
				ActivityDateTime time.Time `json:"activityDateTime"`
				Status           struct {
					Status string `json:"status"`
				} `json:"provisioningStatusInfo"`
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				return count, err
			}
			count++
		}
		next = page.NextLink
	}
	return count, nil
}
