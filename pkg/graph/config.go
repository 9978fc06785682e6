// Package graph implements entra.Directories with the Microsoft Graph beta SDK
// and azidentity. It is the only package that imports either, so the rest of
// ctsync builds and tests without them.
//
// What it takes care of:
//   - one client per tenant, each with a token requested for that tenant
//     (one multi-tenant app consented in both tenants);
//   - clouds: global, usgov, usgovdod and china, or any login and Graph host
//     (another emulator, a private cloud) through AZURE_AUTHORITY_HOST and
//     CTSYNC_GRAPH_ENDPOINT;
//   - the SDK's pitfalls: its default retry re-sends POSTs and its
//     compression handler loses retried bodies, so the HTTP pipeline here
//     retries nothing (the caller owns retries) and sends bodies
//     uncompressed; identitySynchronization
//     has no PATCH builder, so one is built by hand; ODataError.Error() panics
//     on a missing message, so errors are read through nil-checked getters;
//   - every failure classified (fault.Kind), with Retry-After and, for
//     denials, the permission and role to grant.
package graph

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/entra"
)

// Cloud is a national cloud's login and Graph hosts.
type Cloud struct {
	Name          string
	AuthorityHost string
	GraphEndpoint string
}

// Clouds are the clouds CTSYNC_CLOUD can name.
var Clouds = map[string]Cloud{
	"global":   {"global", "https://login.microsoftonline.com/", "https://graph.microsoft.com"},
	"usgov":    {"usgov", "https://login.microsoftonline.us/", "https://graph.microsoft.us"},
	"usgovdod": {"usgovdod", "https://login.microsoftonline.us/", "https://dod-graph.microsoft.us"},
	"china":    {"china", "https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn"},
}

// knownAuthorities are hosts MSAL can discover by itself; for any other
// host instance discovery must be off or MSAL asks login.microsoftonline.com
// about it and fails with invalid_instance.
var knownAuthorities = map[string]bool{
	"login.microsoftonline.com": true, "login.microsoft.com": true, "login.windows.net": true, "sts.windows.net": true,
	"login.microsoftonline.us": true, "login.chinacloudapi.cn": true, "login.microsoftonline.de": true,
}

// Config says how to reach and authenticate to Graph. FromEnv reads it the
// way azidentity's EnvironmentCredential does, plus ctsync's own settings.
type Config struct {
	Cloud         string
	AuthorityHost string
	GraphEndpoint string

	ClientID            string
	ClientSecret        entra.Redacted
	CertificatePath     string
	CertificatePassword entra.Redacted
	FederatedTokenFile  string
	// ManagedIdentity authenticates the app with a managed identity used as
	// its federated credential ("" = off, "system", or a user-assigned
	// identity's client id).
	ManagedIdentity string

	// RootCAs trusts these instead of the system pool (which honours
	// SSL_CERT_FILE). Used to run against an in-process emulator.
	RootCAs *x509.CertPool
	// WrapTransport wraps the Graph HTTP transport (tests use it to observe
	// or interrupt requests).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Timeout bounds one HTTP request; default 60 s.
	Timeout time.Duration
	// TenantWrites and TenantWriteWindow are the write budget per tenant
	// (CTSYNC_TENANT_WRITES, e.g. 3000/150s, Graph's documented directory
	// limit per app per tenant, the default); TenantWrites < 0 paces
	// nothing.
	TenantWrites      int
	TenantWriteWindow time.Duration
}

// FromEnv reads the configuration from environment variables:
//
//	CTSYNC_CLOUD                       global (default), usgov, usgovdod, china
//	AZURE_AUTHORITY_HOST               login host, overrides the cloud's
//	CTSYNC_GRAPH_ENDPOINT              Graph host, overrides the cloud's
//	AZURE_CLIENT_ID                    the multi-tenant app consented in both tenants
//	AZURE_CLIENT_SECRET                its secret, or
//	AZURE_CLIENT_CERTIFICATE_PATH      a PEM or PKCS#12 certificate with key
//	AZURE_CLIENT_CERTIFICATE_PASSWORD  (for an encrypted PKCS#12 file), or
//	AZURE_FEDERATED_TOKEN_FILE         workload identity token file, or
//	CTSYNC_MANAGED_IDENTITY            "system" or a user-assigned identity's client id
func FromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Cloud:               strings.ToLower(strings.TrimSpace(getenv("CTSYNC_CLOUD"))),
		AuthorityHost:       strings.TrimSpace(getenv("AZURE_AUTHORITY_HOST")),
		GraphEndpoint:       strings.TrimSpace(getenv("CTSYNC_GRAPH_ENDPOINT")),
		ClientID:            strings.TrimSpace(getenv("AZURE_CLIENT_ID")),
		ClientSecret:        entra.Redacted(getenv("AZURE_CLIENT_SECRET")),
		CertificatePath:     strings.TrimSpace(getenv("AZURE_CLIENT_CERTIFICATE_PATH")),
		CertificatePassword: entra.Redacted(getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD")),
		FederatedTokenFile:  strings.TrimSpace(getenv("AZURE_FEDERATED_TOKEN_FILE")),
		ManagedIdentity:     strings.TrimSpace(getenv("CTSYNC_MANAGED_IDENTITY")),
	}
	if v := strings.TrimSpace(getenv("CTSYNC_TENANT_WRITES")); v != "" {
		n, w, ok := strings.Cut(v, "/")
		count, err1 := strconv.Atoi(n)
		window, err2 := time.ParseDuration(w)
		switch {
		case v == "off":
			cfg.TenantWrites = -1
		case !ok || err1 != nil || err2 != nil || count < 1 || window <= 0:
			return cfg, fmt.Errorf("CTSYNC_TENANT_WRITES=%q must look like 3000/150s (writes per window per tenant) or off", v)
		default:
			cfg.TenantWrites, cfg.TenantWriteWindow = count, window
		}
	}
	return cfg, cfg.normalize()
}

// normalize fills defaults from the cloud and checks the result, saying
// which setting is wrong.
func (c *Config) normalize() error {
	if c.Cloud == "" {
		c.Cloud = "global"
	}
	cloud, ok := Clouds[c.Cloud]
	if !ok {
		return fmt.Errorf("CTSYNC_CLOUD=%q is not a cloud ctsync knows (global, usgov, usgovdod, china)", c.Cloud)
	}
	if c.AuthorityHost == "" {
		c.AuthorityHost = cloud.AuthorityHost
	}
	if c.GraphEndpoint == "" {
		c.GraphEndpoint = cloud.GraphEndpoint
	}
	if !strings.HasSuffix(c.AuthorityHost, "/") {
		c.AuthorityHost += "/"
	}
	c.GraphEndpoint = strings.TrimSuffix(c.GraphEndpoint, "/")
	for name, v := range map[string]string{"AZURE_AUTHORITY_HOST": c.AuthorityHost, "CTSYNC_GRAPH_ENDPOINT": c.GraphEndpoint} {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%s=%q must be an https URL (Entra and Graph refuse plain http)", name, v)
		}
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	return nil
}

// CheckCredentials reports what is missing to authenticate, naming the
// environment variables to set.
func (c Config) CheckCredentials() error {
	methods := 0
	for _, set := range []bool{c.ClientSecret != "", c.CertificatePath != "", c.FederatedTokenFile != "", c.ManagedIdentity != ""} {
		if set {
			methods++
		}
	}
	switch {
	case c.ClientID == "":
		return fmt.Errorf("no Graph credentials: set AZURE_CLIENT_ID (the multi-tenant app consented in both tenants) and one of " +
			"AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE or CTSYNC_MANAGED_IDENTITY; " +
			"or run `ctsync demo` to try ctsync against the built-in emulator")
	case methods == 0:
		return fmt.Errorf("AZURE_CLIENT_ID is set but no credential: set AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, " +
			"AZURE_FEDERATED_TOKEN_FILE or CTSYNC_MANAGED_IDENTITY")
	case methods > 1:
		return fmt.Errorf("more than one credential is set (AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, " +
			"AZURE_FEDERATED_TOKEN_FILE, CTSYNC_MANAGED_IDENTITY): set exactly one")
	}
	if c.CertificatePath != "" {
		if _, err := os.Stat(c.CertificatePath); err != nil {
			return fmt.Errorf("AZURE_CLIENT_CERTIFICATE_PATH: %w", err)
		}
	}
	if c.FederatedTokenFile != "" {
		if _, err := os.Stat(c.FederatedTokenFile); err != nil {
			return fmt.Errorf("AZURE_FEDERATED_TOKEN_FILE: %w", err)
		}
	}
	return nil
}

func (c Config) authorityIsKnown() bool {
	u, err := url.Parse(c.AuthorityHost)
	return err == nil && knownAuthorities[strings.ToLower(u.Hostname())]
}

// Describe is a one-line summary without secrets, for logs and `ctsync doctor`.
func (c Config) Describe() string {
	method := "none"
	switch {
	case c.ClientSecret != "":
		method = "client secret"
	case c.CertificatePath != "":
		method = "certificate " + c.CertificatePath
	case c.FederatedTokenFile != "":
		method = "workload identity"
	case c.ManagedIdentity != "":
		method = "managed identity (" + c.ManagedIdentity + ")"
	}
	return fmt.Sprintf("cloud=%s login=%s graph=%s client=%s auth=%s", c.Cloud, c.AuthorityHost, c.GraphEndpoint, c.ClientID, method)
}
