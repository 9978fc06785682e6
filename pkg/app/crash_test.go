package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/store"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// crasher kills a host right after its n-th Graph write was answered: the
// change is made in the tenant, but the process dies before it records or
// acknowledges anything. Every later request of the dead process fails.
type crasher struct {
	after  int32
	writes atomic.Int32
	dead   atomic.Bool
	kill   func()
	once   sync.Once
}

func (c *crasher) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if c.dead.Load() {
			return nil, errors.New("process is dead")
		}
		resp, err := rt.RoundTrip(r)
		if err == nil && r.Method != http.MethodGet && c.writes.Add(1) == c.after {
			c.dead.Store(true)
			c.once.Do(c.kill)
		}
		return resp, err
	})
}

func TestACrashAfterEveryGraphWriteResumesWithoutDuplicates(t *testing.T) {
	// A clean run tells how many writes an onboarding makes.
	clean := newHarness(t, graphsim.Options{})
	counter := &crasher{after: -1}
	a := clean.open(func(c *Config) { c.Graph.WrapTransport = counter.wrap })
	if o := clean.runToEnd(a, clean.submit(a, pairRequest())); o.State != store.StateCompleted {
		t.Fatalf("clean run: %+v", o)
	}
	total := int(counter.writes.Load())
	if total < 12 {
		t.Fatalf("a clean onboarding made only %d writes", total)
	}
	for n := 1; n <= total; n++ {
		t.Run(fmt.Sprintf("crash after write %d of %d", n, total), func(t *testing.T) {
			t.Parallel()
			crashAndResume(t, n)
		})
	}
}

// crashAndResume crashes after write n, then resumes in a new process. The
// new configuration app stays unreadable longer than the dead process's
// message lock, so the resumed step cannot see it and must rely on the
// create-once intent not to instantiate a second one.
func crashAndResume(t *testing.T, n int) {
	h := newHarness(t, graphsim.Options{AppReplicationDelay: 3 * time.Second, JobReplicationDelay: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var first *Local
	c := &crasher{after: int32(n)}
	c.kill = func() {
		cancel()
		first.DB.Close()
	}
	slowReplication := func(cfg *Config) {
		cfg.Chain.Steps.ReplicationWindow = 8 * time.Second
		cfg.Chain.Policy.MaxAttempts, cfg.Chain.Policy.MaxDelay = 40, time.Second
	}
	first = h.open(slowReplication, func(cfg *Config) { cfg.Graph.WrapTransport = c.wrap })
	id := h.submit(first, pairRequest())
	_ = first.Host.RunUntil(ctx, func(context.Context) (bool, error) { return false, nil })
	if !c.dead.Load() {
		t.Fatalf("the host never reached write %d", n)
	}
	var lastWrite graphsim.Request
	for _, r := range h.sim.Requests() {
		if r.Version != "" && r.Method != http.MethodGet {
			lastWrite = r
		}
	}

	// A new process on the same state directory picks up where the dead one stopped.
	second := h.open(slowReplication)
	o := h.runToEnd(second, id)
	if o.State != store.StateCompleted {
		t.Fatalf("after crashing behind %s %s: ended %s at %s: %s", lastWrite.Method, lastWrite.Path, o.State, o.Step, o.Detail)
	}
	h.assertConfigured()
	creates := map[string]int{
		"POST /policies/crossTenantAccessPolicy/partners": 2,
		"PUT /identitySynchronization":                    1,
		"POST /appRoleAssignedTo":                         3,
	}
	for call, want := range creates {
		method, path, _ := strings.Cut(call, " ")
		if got := countExact(h.sim, method, path); got != want {
			t.Errorf("after crashing behind %s %s: %s sent %d times, want %d", lastWrite.Method, lastWrite.Path, call, got, want)
		}
	}
	seen := map[string]int{}
	for _, u := range h.sim.Tenant(targetTenant).Users {
		if u.ExternalTenant != "" {
			seen[u.ExternalUser]++
		}
	}
	for user, count := range seen {
		if count > 1 {
			t.Errorf("user %s exists %d times in the target", user, count)
		}
	}
}

// countExact counts requests whose path ends with suffix (so
// /partners does not also count /partners/{id}).
func countExact(sim *graphsim.Server, method, suffix string) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) && r.Version != "" {
			n++
		}
	}
	return n
}
