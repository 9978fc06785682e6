package graph

import (
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
// a retried write. Nothing here retries: every failure, a throttled read
// included, goes back to the caller classified with its Retry-After, and the
// caller is the one retry owner of its path — the router for the steps (a
// delayed copy of the message), the harvester's per-tenant budget for the
// provisioning logs (so every 429 pauses the whole tenant).
func (c Config) httpClient() *http.Client {
	var base http.RoundTripper = c.baseTransport(graphConns)
	if c.WrapTransport != nil {
		base = c.WrapTransport(base)
	}
	middleware := []khttp.Middleware{
		core.NewGraphTelemetryHandler(&clientOptions),
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
