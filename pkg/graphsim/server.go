// Package graphsim is a Microsoft Graph and Entra login emulator for the calls
// cross-tenant synchronization needs. It serves real HTTPS on loopback under
// its own CA, issues tokens that azidentity accepts, and answers on /beta and
// /v1.0 with the documented bodies, status codes and OData errors, for any
// number of tenants. It models what makes the real service hard to automate:
// replication delay after create, conflicts on re-create, throttling with
// Retry-After, gzip request bodies, and injected faults (429, 503, latency, a
// connection dropped after the change was made).
//
// It imports nothing of ctsync: it is the stand-in for Microsoft, not a part
// of the product.
package graphsim

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure an emulator. The zero value is usable: random port, no
// replication delay, documented throttles on.
type Options struct {
	// Addr to listen on; default 127.0.0.1:0 (a free port).
	Addr string
	// CA to issue the server certificate from; default a fresh one.
	CA *CA
	// ClientID and ClientSecret the token endpoint accepts for
	// client_credentials; client assertions (certificates, workload identity)
	// are accepted for ClientID too. Defaults: DefaultClientID/DefaultClientSecret.
	ClientID, ClientSecret string
	// AppReplicationDelay keeps a new application and service principal
	// unreadable for this long after instantiate, as Entra does for seconds.
	AppReplicationDelay time.Duration
	// JobReplicationDelay makes a new synchronization job answer 404 for this long.
	JobReplicationDelay time.Duration
	// ReportsPerWindow and ReportsWindow throttle /auditLogs per app per tenant
	// (documented: 5 requests per 10 seconds). ReportsPerWindow < 0 disables it.
	ReportsPerWindow int
	ReportsWindow    time.Duration
	// OnDemandPerWindow throttles provisionOnDemand the same way (documented
	// 5 per 10 s). < 0 disables it.
	OnDemandPerWindow int
	// WritesPerWindow and WriteWindow throttle writes (POST, PATCH, PUT,
	// DELETE) per app per tenant, sliding window (documented for the
	// directory: 3,000 per 2.5 minutes). < 0 disables it.
	WritesPerWindow int
	WriteWindow     time.Duration
	// CycleInterval is how often a started job runs a synchronization cycle
	// (Entra: about 40 minutes). Default 2 seconds, so demos and tests see
	// cycles; a started job runs its first cycle after InitialCycleDelay.
	CycleInterval     time.Duration
	InitialCycleDelay time.Duration
	// BuiltInFilterIn is where a new job's built-in "Filter external
	// users" scoping group sits: BuiltInInGroups (default) or
	// BuiltInInInputFilter.
	BuiltInFilterIn string
	// PageSize is how many entries one page of a directory collection
	// (appRoleAssignedTo, group members) holds unless $top asks for fewer;
	// default 100, Graph's default page.
	PageSize int
	// Now is the emulator's clock; default time.Now.
	Now func() time.Time
	// ManagedIdentityHeader is the secret an App Service managed identity
	// request must carry (IDENTITY_HEADER); default DefaultIdentityHeader.
	ManagedIdentityHeader string
	// Logf receives one line per request when set.
	Logf func(format string, args ...any)
}

// DefaultIdentityHeader is the managed identity endpoint's default secret.
const DefaultIdentityHeader = "emulator-identity-header"

// DefaultClientID and DefaultClientSecret are the credentials a default
// emulator accepts.
const (
	DefaultClientID     = "6731de76-14a6-49ae-97bc-6eba6914391e"
	DefaultClientSecret = "emulator-secret-not-for-production"
)

// Server is a running emulator.
type Server struct {
	// URL is the base for both login (authority host) and Graph:
	// https://127.0.0.1:<port>.
	URL string
	CA  *CA

	opts     Options
	listener net.Listener
	http     *http.Server
	signKey  []byte

	mu       sync.Mutex
	tenants  map[string]*tenant
	faults   []*Fault
	requests []Request
	limiter  *limiter
	stopJobs chan struct{}
	jobsDone sync.WaitGroup
	// cyclesPaused holds every job's cycles (PauseCycles).
	cyclesPaused bool
	schemaPuts   int
}

// Request is one Graph or login request as the emulator saw it.
type Request struct {
	Time            time.Time
	Method          string
	Path            string // without the /beta or /v1.0 prefix for Graph calls
	Version         string // "beta", "v1.0" or "" for login
	Query           string
	Tenant          string
	Status          int
	ContentEncoding string
	RetryAttempt    string
	// RetryAfter is the Retry-After the emulator answered with, if any.
	RetryAfter string
	// ThrottlesSeen is how many 429s of this tenant the client had seen
	// when it sent the request (ctsync's x-ctsync-throttles-seen header),
	// so a test can tell a write sent after a 429 from one already in flight.
	ThrottlesSeen string
	Dropped       bool
	// Credential is how a token request authenticated: "secret" or "assertion".
	Credential string
}

// Start listens and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ManagedIdentityHeader == "" {
		opts.ManagedIdentityHeader = DefaultIdentityHeader
	}
	if opts.ReportsPerWindow == 0 {
		opts.ReportsPerWindow = 5
	}
	if opts.ReportsWindow == 0 {
		opts.ReportsWindow = 10 * time.Second
	}
	if opts.OnDemandPerWindow == 0 {
		opts.OnDemandPerWindow = 5
	}
	if opts.WritesPerWindow == 0 {
		opts.WritesPerWindow = 3000
	}
	if opts.WriteWindow == 0 {
		opts.WriteWindow = 150 * time.Second
	}
	if opts.PageSize == 0 {
		opts.PageSize = 100
	}
	if opts.CycleInterval == 0 {
		opts.CycleInterval = 2 * time.Second
	}
	if opts.InitialCycleDelay == 0 {
		opts.InitialCycleDelay = 500 * time.Millisecond
	}
	ca := opts.CA
	if ca == nil {
		var err error
		if ca, err = NewCA(); err != nil {
			return nil, err
		}
	}
	cert, err := ca.serverCertificate()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator listen on %s: %w", opts.Addr, err)
	}
	s := &Server{
		URL:      "https://" + ln.Addr().String(),
		CA:       ca,
		opts:     opts,
		listener: ln,
		signKey:  randomBytes(32),
		tenants:  map[string]*tenant{},
		limiter:  newLimiter(),
		stopJobs: make(chan struct{}),
	}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		// HTTP/1.1 only, so a fault can drop the connection after the change
		// was made (Hijack is not available on HTTP/2).
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	tlsLn := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	go func() { _ = s.http.Serve(tlsLn) }()
	s.jobsDone.Add(1)
	go s.runJobs()
	return s, nil
}

// Close stops the server and the job simulation.
func (s *Server) Close() error {
	close(s.stopJobs)
	s.jobsDone.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.http.Close()
	}
	return err
}

// ClientID returns the client id the token endpoint accepts.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret returns the client secret the token endpoint accepts.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// CountRequests counts logged requests matching method (or any when empty)
// whose path contains pathPart, in tenant (or any when empty).
func (s *Server) CountRequests(method, pathPart, tenantID string) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && strings.Contains(r.Path, pathPart) && (tenantID == "" || strings.EqualFold(r.Tenant, tenantID)) {
			n++
		}
	}
	return n
}

// Writes counts Graph requests that change state (every method but GET),
// successful or not, in tenant (or any when empty).
func (s *Server) Writes(tenantID string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Version != "" && r.Method != http.MethodGet && (tenantID == "" || strings.EqualFold(r.Tenant, tenantID)) {
			n++
		}
	}
	return n
}

// Fault makes matching requests fail. Zero fields match anything.
type Fault struct {
	Method string
	// PathContains matches the Graph path without the version prefix, e.g.
	// "/instantiate" or "/synchronization/jobs".
	PathContains string
	Tenant       string
	// Skip lets the first Skip matching requests through unaffected.
	Skip int
	// Times is how many matching requests to affect; 0 means every one.
	Times int
	// Status and Code answer instead of the real handler (e.g. 429
	// TooManyRequests, 503 serviceNotAvailable). RetryAfter sets the header
	// ("2", "0.5" or an HTTP date).
	Status     int
	Code       string
	RetryAfter string
	// Latency delays the answer.
	Latency time.Duration
	// DropAfterCommit performs the request, then closes the connection
	// without answering: the change happened but the client never learns.
	DropAfterCommit bool
	// HangAfterCommit performs the request, then holds the answer until the
	// client goes away: the process that sent it can be killed mid-call
	// with the change made.
	HangAfterCommit bool
	// Arrived, when set, receives the path of each request the fault
	// applies to (without blocking), so a test knows a call is in flight:
	// for DropAfterCommit and HangAfterCommit once the change is made, for
	// Latency when the wait begins, otherwise before the answer.
	Arrived chan<- string

	hits, skipped int
}

// Inject adds a fault. Faults are checked in order; the first that matches
// and has hits left applies.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := f
	s.faults = append(s.faults, &cp)
}

// arrived tells the test the fault applied.
func (f *Fault) arrived(path string) {
	if f.Arrived != nil {
		select {
		case f.Arrived <- path:
		default:
		}
	}
}

func (s *Server) matchFault(method, path, tenantID string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		if (f.Method == "" || f.Method == method) && strings.Contains(path, f.PathContains) && (f.Tenant == "" || strings.EqualFold(f.Tenant, tenantID)) {
			if f.skipped < f.Skip {
				f.skipped++
				continue
			}
			f.hits++
			cp := *f
			return &cp
		}
	}
	return nil
}

// call is one request in flight.
type call struct {
	s         *Server
	w         http.ResponseWriter
	r         *http.Request
	version   string
	path      string
	tenant    *tenant
	appID     string
	requestID string
	body      []byte
	status    int
}

func (c *call) header() http.Header { return c.w.Header() }

func (c *call) writeJSON(status int, v any) {
	c.status = status
	c.header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	c.w.WriteHeader(status)
	_ = json.NewEncoder(c.w).Encode(v)
}

func (c *call) noContent() {
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
}

// odataError writes Microsoft Graph's error shape.
func (c *call) odataError(status int, code, message string, details ...map[string]string) {
	inner := map[string]any{
		"date":              c.s.now().Format("2006-01-02T15:04:05"),
		"request-id":        c.requestID,
		"client-request-id": c.r.Header.Get("client-request-id"),
	}
	errBody := map[string]any{"code": code, "message": message, "innerError": inner}
	if len(details) > 0 {
		errBody["details"] = details
	}
	c.writeJSON(status, map[string]any{"error": errBody})
}

func (c *call) notFound(id string) {
	c.odataError(http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func (c *call) badRequest(code, message string) {
	c.odataError(http.StatusBadRequest, code, message)
}

// decode reads the JSON body into v, answering 400 itself when it cannot.
func (c *call) decode(v any) bool {
	if len(bytes.TrimSpace(c.body)) == 0 {
		c.badRequest("BadRequest", "Empty Payload. JSON content expected.")
		return false
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		c.badRequest("BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return false
	}
	return true
}

// readBody reads the request body, inflating gzip the way Graph does and
// refusing other encodings with 415 (the SDK then resends uncompressed).
func readBody(r *http.Request) ([]byte, int, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return raw, 0, nil
	case "gzip":
		if len(raw) == 0 {
			return nil, http.StatusBadRequest, errors.New("Content-Encoding is gzip but the body is empty")
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("body is labelled gzip but is not: %v", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, 8<<20))
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("corrupt gzip body: %v", err)
		}
		return out, 0, nil
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
}

func newID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
