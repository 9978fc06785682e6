package graph

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// sdkVersion is reported in the SdkVersion header like the SDK's own client.
var clientOptions = core.GraphClientOptions{GraphServiceVersion: "beta", GraphServiceLibraryVersion: "0.160.0"}

// httpClient builds the Graph pipeline. It leaves out two SDK defaults on
// purpose: the retry handler, which re-sends POSTs (a second configuration
// app, a second job), and the compression handler, which loses the body of
// a retried write. Reads are retried by readRetry; writes are retried by
// the chain re-running the whole ensure step, which observes first.
func (c Config) httpClient() *http.Client {
	var base http.RoundTripper = c.baseTransport()
	if c.WrapTransport != nil {
		base = c.WrapTransport(base)
	}
	middleware := []khttp.Middleware{
		core.NewGraphTelemetryHandler(&clientOptions),
		&readRetry{retries: c.ReadRetries, maxWait: c.MaxReadWait},
		khttp.NewRedirectHandler(),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
	}
	return &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(base, middleware...),
		Timeout:   c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// readRetry retries GETs answered 429, 503 or 504 (or not answered), waiting
// what Retry-After says — seconds with fractions, or an HTTP date — or an
// exponential backoff with jitter. A wait longer than maxWait is not done in
// process: the response goes back up as a throttled error and the message is
// redelivered later instead of holding a worker.
type readRetry struct {
	retries int
	maxWait time.Duration
}

func (m *readRetry) Intercept(pipeline khttp.Pipeline, index int, req *http.Request) (*http.Response, error) {
	resp, err := pipeline.Next(req, index)
	if req.Method != http.MethodGet {
		return resp, err
	}
	for attempt := 1; attempt <= m.retries; attempt++ {
		if err == nil && !retryableStatus(resp.StatusCode) {
			return resp, nil
		}
		if err != nil && req.Context().Err() != nil {
			return resp, err
		}
		wait := backoff(attempt)
		if err == nil {
			if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = ra
			}
		}
		if wait > m.maxWait {
			return resp, err
		}
		if resp != nil {
			resp.Body.Close()
		}
		t := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
		req.Header.Set("Retry-Attempt", strconv.Itoa(attempt))
		resp, err = pipeline.Next(req, index)
	}
	return resp, err
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

func backoff(attempt int) time.Duration {
	base := 500 * time.Millisecond << (attempt - 1)
	return base + time.Duration(rand.Int64N(int64(base/2)))
}

// parseRetryAfter reads Retry-After as (possibly fractional) seconds or an
// HTTP date. Graph sends fractions ("2.128"); truncating them, as the SDK's
// own handler does, retries a sub-second wait at once.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}
