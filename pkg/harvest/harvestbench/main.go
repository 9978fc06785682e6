// Command harvestbench measures the provisioning-log harvester against the
// emulator: records per second and peak memory at 10k, 100k and 1M records,
// side by side with a plain net/http + encoding/json pager reading the same
// pages. Each reader runs in its own child process so its peak resident
// memory (getrusage maxrss) is its own; the emulator runs in this process.
//
//	go run ./pkg/harvest/harvestbench            # 10k, 100k, 1M
//	BENCH_SIZES=10000,100000 go run ./pkg/harvest/harvestbench
package main

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
	"strconv"
	"strings"
	"syscall"
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

func main() {
	if len(os.Args) > 2 && os.Args[1] == "child" {
		if err := child(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	if err := parent(); err != nil {
		fmt.Fprintln(os.Stderr, "harvestbench:", err)
		os.Exit(1)
	}
}

type result struct {
	records int
	took    time.Duration
	rssKB   int64
}

func parent() error {
	sizes := []int{10_000, 100_000, 1_000_000}
	if v := os.Getenv("BENCH_SIZES"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				return fmt.Errorf("BENCH_SIZES=%q: want counts like 10000,100000", v)
			}
			sizes = append(sizes, n)
		}
	}
	const row = "%10s  %16s  %18s  %18s  %20s\n"
	fmt.Printf(row, "records", "harvester rec/s", "harvester peak RSS", "plain pager rec/s", "plain pager peak RSS")
	for _, n := range sizes {
		h, p, err := measure(n)
		if err != nil {
			return err
		}
		fmt.Printf(row, strconv.Itoa(n), fmt.Sprintf("%.0f", float64(h.records)/h.took.Seconds()), fmt.Sprintf("%.1f MiB", float64(h.rssKB)/1024),
			fmt.Sprintf("%.0f", float64(p.records)/p.took.Seconds()), fmt.Sprintf("%.1f MiB", float64(p.rssKB)/1024))
	}
	fmt.Println(`
harvester:   ctsync's harvester through the Graph SDK pipeline (azidentity token, retries), $top=500,
             every record written to a JSON Lines file (fsync per page), checkpoint and de-duplication
             ids committed to SQLite per page.
plain pager: net/http GET of the same pages with a bearer token, encoding/json decode of every record
             into the same fields, nothing stored.
Both read from the emulator in this process over HTTPS on loopback; the reports throttle is off (Graph
allows about 5 requests per 10 s per tenant, i.e. about 250 records/s at $top=500).`)
	return nil
}

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
	cmd := exec.Command(os.Args[0], "child", mode)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s: %w", mode, err)
	}
	took := time.Since(start)
	var r result
	if _, err := fmt.Sscan(strings.TrimSpace(out.String()), &r.records); err != nil {
		return result{}, fmt.Errorf("%s printed %q", mode, out.String())
	}
	r.took = took
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKB = ru.Maxrss
	}
	return r, nil
}

func child(mode string) error {
	pem, err := os.ReadFile(os.Getenv("BENCH_CA"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ctx := context.Background()
	switch mode {
	case "harvester":
		n, err := harvestAll(ctx, pool)
		fmt.Println(n)
		return err
	case "pager":
		n, err := pageAll(ctx, pool)
		fmt.Println(n)
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
