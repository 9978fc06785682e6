package harvest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
)

const (
	tenantA = "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11"
	tenantB = "1c8f4d3f-6b5e-4f72-8d2b-8e3f9a012b22"
	spA1    = "a4f5b6c7-d8e9-4f0a-8b1c-2d3e4f5a6b7c"
	spA2    = "b5a6c7d8-e9f0-4a1b-9c2d-3e4f5a6b7c8d"
	spA3    = "c6b7d8e9-f0a1-4b2c-8d3e-4f5a6b7c8d9e"
	spB1    = "d7c8e9f0-a1b2-4c3d-9e4f-5a6b7c8d9eaf"
)

type fixture struct {
	t         *testing.T
	sim       *graphsim.Server
	dirs      *graph.Client
	store     *store.Store
	collected *store.Records
	out       string
	now       time.Time
}

func newFixture(t *testing.T, simOpts graphsim.Options, mutate ...func(*graph.Config)) *fixture {
	t.Helper()
	sim, err := graphsim.Start(simOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.AddTenant(graphsim.TenantSpec{ID: tenantA, DisplayName: "Contoso"})
	sim.AddTenant(graphsim.TenantSpec{ID: tenantB, DisplayName: "Tailspin"})
	cfg := graph.Config{AuthorityHost: sim.URL, GraphEndpoint: sim.URL, ClientID: sim.ClientID(),
		ClientSecret: entra.Redacted(sim.ClientSecret()), RootCAs: sim.CA.Pool()}
	for _, m := range mutate {
		m(&cfg)
	}
	dirs, err := graph.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := localdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kv, err := store.NewSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	records, err := store.NewRecords(db)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, sim: sim, dirs: dirs, store: store.New(kv), collected: records, out: filepath.Join(t.TempDir(), "logs.jsonl"), now: time.Now().UTC()}
}

// configure records configurations the way a finished onboarding does.
func (f *fixture) configure(tenant string, sps ...string) {
	f.t.Helper()
	for i, sp := range sps {
		err := f.store.SaveOnboarding(context.Background(), store.Onboarding{ID: fmt.Sprintf("%s-0000-4000-8000-%012d", sp[:8], i), SourceTenantID: tenant,
			TargetTenantID: tenantB, Name: "config " + sp[:8], ServicePrincipalID: sp, JobID: "Azure2Azure.x." + tenant, State: store.StateCompleted})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// records adds n records for sp, one a minute apart ending a minute ago;
// every failEvery-th fails.
func (f *fixture) records(tenant, sp string, n, failEvery int) []graphsim.ProvisioningRecord {
	var recs []graphsim.ProvisioningRecord
	for i := 0; i < n; i++ {
		r := graphsim.ProvisioningRecord{ID: fmt.Sprintf("%s-%05d", sp[:8], i), ActivityDateTime: f.now.Add(-time.Duration(n-i) * time.Minute),
			ServicePrincipalID: sp, JobID: "Azure2Azure.x." + tenant, SourceUserID: fmt.Sprintf("user-%d", i)}
		if failEvery > 0 && i%failEvery == 0 {
			r.Status, r.ErrorCode, r.Reason = "failure", "AzureActiveDirectoryForbidden", "guest invitations blocked"
		}
		recs = append(recs, r)
	}
	f.sim.AddProvisioningRecords(tenant, recs...)
	return recs
}

func (f *fixture) harvester(opts Options, extra ...Sink) (*Harvester, *JSONLines) {
	f.t.Helper()
	jl, err := OpenJSONLines(f.out)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { jl.Close() })
	if opts.Budget == nil {
		opts.Budget = NewBudget(0, 0)
	}
	if opts.PageSize == 0 {
		opts.PageSize = 100
	}
	sinks := append([]Sink{jl, StoreSink{f.collected}}, extra...)
	return New(f.dirs, f.store, sinks, opts), jl
}

// lines returns the record ids in the JSON Lines file, in order.
func (f *fixture) lines() []string {
	f.t.Helper()
	file, err := os.Open(f.out)
	if err != nil {
		f.t.Fatal(err)
	}
	defer file.Close()
	var ids []string
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			f.t.Fatalf("line is not a record: %q", sc.Text())
		}
		ids = append(ids, rec.ID)
	}
	return ids
}

// exactlyOnce checks the file and the store each hold every wanted record once.
func (f *fixture) exactlyOnce(want []graphsim.ProvisioningRecord) {
	f.t.Helper()
	got := map[string]int{}
	for _, id := range f.lines() {
		got[id]++
	}
	for _, r := range want {
		if got[r.ID] != 1 {
			f.t.Errorf("record %s delivered %d times to the file", r.ID, got[r.ID])
		}
		delete(got, r.ID)
	}
	for id, n := range got {
		f.t.Errorf("unexpected record %s (%d times)", id, n)
	}
	stored, err := f.collected.QueryRecords(context.Background(), store.RecordQuery{Limit: 1 << 20})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(stored) != len(want) {
		f.t.Errorf("store holds %d records, want %d", len(stored), len(want))
	}
}

func TestAHarvestAcrossManyPagesDeliversEveryRecordOnce(t *testing.T) {
	f := newFixture(t, graphsim.Options{ReportsPerWindow: -1})
	f.configure(tenantA, spA1, spA2)
	want := append(f.records(tenantA, spA1, 1234, 0), f.records(tenantA, spA2, 321, 0)...)
	want = append(want, f.records(tenantB, spB1, 150, 0)...)
	f.records(tenantA, spA3, 50, 0) // not a configuration: never read
	h, _ := f.harvester(Options{Extra: []store.Configuration{{SourceTenantID: tenantB, ServicePrincipalID: spB1, Name: "extra"}}})
	sum, err := h.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Configurations != 3 || sum.Delivered != len(want) || sum.Pages < 17 {
		t.Fatalf("summary %+v", sum)
	}
	f.exactlyOnce(want)
	// Pages were requested with the documented grammar.
	var sawNext, sawFilter bool
	for _, r := range f.sim.Requests() {
		if r.Path == "/auditLogs/provisioning" {
			sawFilter = sawFilter || strings.Contains(r.Query, "servicePrincipal%2Fid+eq+%27") && strings.Contains(r.Query, "activityDateTime+gt+")
			sawNext = sawNext || strings.Contains(r.Query, "skiptoken")
			if strings.Contains(r.Query, "%24top=") && !strings.Contains(r.Query, "%24top=100") {
				t.Errorf("unexpected $top in %s", r.Query)
			}
		}
	}
	if !sawFilter || !sawNext {
		t.Errorf("filter used: %v, nextLink followed: %v", sawFilter, sawNext)
	}
	// A second run finds nothing new.
	sum, err = h.Run(context.Background())
	if err != nil || sum.Delivered != 0 {
		t.Fatalf("second run delivered %d (%v)", sum.Delivered, err)
	}
	f.exactlyOnce(want)
}

// failAfter is a sink that fails on its n-th page: the sinks before it have
// accepted the page, the checkpoint has not moved — a crash between sink and
// checkpoint.
type failAfter struct {
	n, seen int
}

func (s *failAfter) Name() string { return "fail-after" }
func (s *failAfter) Accept(context.Context, Page, []entra.LogRecord) error {
	s.seen++
	if s.seen == s.n {
		return errors.New("crash")
	}
	return nil
}

func TestACrashBetweenSinkAndCheckpointLosesAndRepeatsNothing(t *testing.T) {
	for _, crashAt := range []int{1, 3, 7} {
		t.Run(fmt.Sprintf("crash on page %d", crashAt), func(t *testing.T) {
			f := newFixture(t, graphsim.Options{ReportsPerWindow: -1})
			f.configure(tenantA, spA1)
			want := f.records(tenantA, spA1, 777, 0)
			crashing, _ := f.harvester(Options{}, &failAfter{n: crashAt})
			if _, err := crashing.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(f.lines()); n != crashAt*100 {
				t.Fatalf("the crashed run left %d lines; the test needs the crashed page in the file", n)
			}
			resumed, _ := f.harvester(Options{})
			sum, err := resumed.Run(context.Background())
			if err != nil || len(sum.Errors) > 0 {
				t.Fatalf("%v %v", err, sum.Errors)
			}
			f.exactlyOnce(want)
		})
	}
}

func TestRecordsArrivingLateInsideTheOverlapAreCaught(t *testing.T) {
	f := newFixture(t, graphsim.Options{ReportsPerWindow: -1})
	f.configure(tenantA, spA1)
	want := f.records(tenantA, spA1, 120, 0)
	// Two records happened before the newest one but reach the API later.
	late := []graphsim.ProvisioningRecord{
		{ID: "late-1", ActivityDateTime: f.now.Add(-90 * time.Second), AvailableAt: f.now.Add(time.Hour), ServicePrincipalID: spA1},
		{ID: "late-2", ActivityDateTime: f.now.Add(-20 * time.Minute), AvailableAt: f.now.Add(time.Hour), ServicePrincipalID: spA1},
	}
	f.sim.AddProvisioningRecords(tenantA, late...)
	clock := f.now
	h, _ := f.harvester(Options{Overlap: 30 * time.Minute, Now: func() time.Time { return clock }})
	if _, err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.exactlyOnce(want)
	// They show up now; the checkpoint is past them, the overlap is not.
	f.sim.AddProvisioningRecords(tenantA, graphsim.ProvisioningRecord{ID: late[0].ID, ActivityDateTime: late[0].ActivityDateTime, ServicePrincipalID: spA1},
		graphsim.ProvisioningRecord{ID: late[1].ID, ActivityDateTime: late[1].ActivityDateTime, ServicePrincipalID: spA1})
	sum, err := h.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Delivered != 2 {
		t.Fatalf("want the two late records, delivered %d", sum.Delivered)
	}
	f.exactlyOnce(append(want, late[0], late[1]))
}

func TestThrottlingIsHonouredAndTheBudgetSharesATenant(t *testing.T) {
	window := time.Second
	t.Run("a 429 pauses the tenant for its Retry-After", func(t *testing.T) {
		// Default Graph client settings: the client retries nothing, so every
		// 429 reaches the harvester, which pauses the whole tenant.
		f := newFixture(t, graphsim.Options{ReportsPerWindow: 5, ReportsWindow: window})
		f.configure(tenantA, spA1, spA2)
		want := append(f.records(tenantA, spA1, 650, 0), f.records(tenantA, spA2, 650, 0)...)
		h, _ := f.harvester(Options{Budget: NewBudget(0, 0), MaxThrottled: 100})
		if _, err := h.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.exactlyOnce(want)
		throttled := 0
		reqs := f.sim.Requests()
		for i, r := range reqs {
			if r.Path != "/auditLogs/provisioning" || r.Status != 429 {
				continue
			}
			throttled++
			asked, err := time.ParseDuration(r.RetryAfter + "s")
			if err != nil {
				t.Fatalf("429 without a usable Retry-After: %q", r.RetryAfter)
			}
			for _, next := range reqs[i+1:] {
				if next.Path == "/auditLogs/provisioning" {
					if gap := next.Time.Sub(r.Time); gap < asked-time.Millisecond {
						t.Errorf("a 429 asked for %s; the next request came %s later", asked, gap)
					}
					break
				}
			}
		}
		if throttled == 0 {
			t.Fatal("the emulator never throttled; the test proves nothing")
		}
	})
	t.Run("the budget keeps three configurations of a tenant under the limit", func(t *testing.T) {
		f := newFixture(t, graphsim.Options{ReportsPerWindow: 5, ReportsWindow: window})
		f.configure(tenantA, spA1, spA2, spA3)
		want := append(append(f.records(tenantA, spA1, 450, 0), f.records(tenantA, spA2, 450, 0)...), f.records(tenantA, spA3, 250, 0)...)
		h, _ := f.harvester(Options{Budget: NewBudget(4, window)})
		if _, err := h.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.exactlyOnce(want)
		var times []time.Time
		for _, r := range f.sim.Requests() {
			if r.Path == "/auditLogs/provisioning" {
				if r.Status == 429 {
					t.Errorf("the budget let a request be throttled at %s", r.Time)
				}
				times = append(times, r.Time)
			}
		}
		for i := range times {
			n := 0
			for _, u := range times[i:] {
				if u.Sub(times[i]) < window {
					n++
				}
			}
			if n > 5 {
				t.Fatalf("%d requests within %s starting at %s", n, window, times[i])
			}
		}
		if len(times) < 12 {
			t.Fatalf("only %d requests; the test needs several windows", len(times))
		}
	})
}

func TestAGapLongerThanRetentionIsReportedLoudly(t *testing.T) {
	f := newFixture(t, graphsim.Options{ReportsPerWindow: -1})
	f.configure(tenantA, spA1)
	want := f.records(tenantA, spA1, 10, 0)
	cfg := store.Configuration{SourceTenantID: tenantA, ServicePrincipalID: spA1}
	old := f.now.Add(-45 * 24 * time.Hour)
	if _, err := f.store.CommitPage(context.Background(), store.PageCommit{Config: cfg, Watermark: old}); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	h, _ := f.harvester(Options{Log: slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, nil))})
	sum, err := h.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Gaps) != 1 || !sum.Gaps[0].From.Equal(old.Truncate(time.Microsecond)) || sum.Gaps[0].To.Before(f.now.Add(-31*24*time.Hour)) {
		t.Fatalf("gaps %+v", sum.Gaps)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "provisioning logs were lost") {
		t.Fatalf("no loud report: %s", logs.String())
	}
	f.exactlyOnce(want)
}

type lockedWriter struct {
	w  *strings.Builder
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestFailedRecordsRaiseOneAlertEachEvenAfterACrash(t *testing.T) {
	f := newFixture(t, graphsim.Options{ReportsPerWindow: -1})
	f.configure(tenantA, spA1)
	want := f.records(tenantA, spA1, 300, 10)
	ids := map[string]int{}
	calls := 0
	publish := func(ctx context.Context, evs []events.Event) error {
		for _, ev := range evs {
			if err := ev.Validate(); err != nil {
				t.Errorf("invalid alert: %v", err)
			}
			ids[ev.ID]++
		}
		calls++
		if calls == 2 {
			return errors.New("crash after publishing, before the checkpoint")
		}
		return nil
	}
	crashing, _ := f.harvester(Options{Alerts: publish})
	if sum, err := crashing.Run(context.Background()); err != nil || len(sum.Errors) != 1 {
		t.Fatalf("the crashed run should report one error: %v %v", err, sum.Errors)
	}
	resumed, _ := f.harvester(Options{Alerts: publish})
	if _, err := resumed.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.exactlyOnce(want)
	if len(ids) != 30 {
		t.Fatalf("want 30 distinct alerts, got %d", len(ids))
	}
	repeated := 0
	for _, n := range ids {
		if n > 1 {
			repeated++
		}
	}
	// The crashed page's alerts were published again with the same ids, so
	// a de-duplicating bus drops them.
	if repeated != 10 {
		t.Fatalf("want the crashed page's 10 alerts re-published under the same ids, got %d", repeated)
	}
	failed, err := f.collected.QueryRecords(context.Background(), store.RecordQuery{Status: "failure", Limit: 1000})
	if err != nil || len(failed) != 30 {
		t.Fatalf("stored failures %d %v", len(failed), err)
	}
}

func TestOnlyOneHarvestRunsAtATime(t *testing.T) {
	f := newFixture(t, graphsim.Options{ReportsPerWindow: -1})
	holder, ok, err := f.store.AcquireLease(context.Background(), leaseName, "someone else", time.Minute)
	// A running harvest renews its lease: "someone else" holds it for a minute.
	if err != nil || !ok {
		t.Fatal(holder, err)
	}
	h, _ := f.harvester(Options{})
	if _, err := h.Run(context.Background()); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "someone else") {
		t.Fatalf("got %v", err)
	}
}
