package graph

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// baseTransport is an HTTP transport for login or Graph: the system trust
// store unless the config names its own roots. A Client makes one of each
// and shares it among all tenants, with at most conns connections to the
// host: Graph and the login service speak HTTP/2, which multiplexes every
// request over one or two of them; over HTTP/1.1 requests wait for one,
// so a thousand tenants never hold a thousand sockets.
func (c Config) baseTransport(conns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if c.RootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	}
	t.MaxConnsPerHost, t.MaxIdleConnsPerHost, t.MaxIdleConns = conns, conns, 2*conns
	return t
}

// Connections to one host: Graph calls and sign-ins.
const (
	graphConns = 16
	loginConns = 8
)

func (c Config) clientOptionsWith(t *http.Transport) azcore.ClientOptions {
	return azcore.ClientOptions{
		// An explicit authority host wins over AZURE_AUTHORITY_HOST inside
		// azidentity, so the cloud table and the override both apply.
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: &http.Client{Transport: t, Timeout: c.Timeout},
		Retry:     policy.RetryOptions{MaxRetries: 3},
	}
}

// anyTenant lets one credential get tokens for every tenant, each request
// naming its tenant (see tenantCredential).
var anyTenant = []string{"*"}

// credential returns a credential for the multi-tenant app that gets a
// token for whichever tenant a request names; tenantID is only its home
// for construction. It sends its requests with opts.
func (c Config) credential(tenantID string, opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	noDiscovery := !c.authorityIsKnown()
	switch {
	case c.ClientSecret != "":
		return azidentity.NewClientSecretCredential(tenantID, c.ClientID, c.ClientSecret.Reveal(),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery, AdditionallyAllowedTenants: anyTenant})
	case c.CertificatePath != "":
		data, err := os.ReadFile(c.CertificatePath)
		if err != nil {
			return nil, fmt.Errorf("AZURE_CLIENT_CERTIFICATE_PATH: %w", err)
		}
		var password []byte
		if c.CertificatePassword != "" {
			password = []byte(c.CertificatePassword.Reveal())
		}
		certs, key, err := azidentity.ParseCertificates(data, password)
		if err != nil {
			return nil, fmt.Errorf("AZURE_CLIENT_CERTIFICATE_PATH %s: %w", c.CertificatePath, err)
		}
		return azidentity.NewClientCertificateCredential(tenantID, c.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery, AdditionallyAllowedTenants: anyTenant})
	case c.FederatedTokenFile != "":
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: c.ClientID, TenantID: tenantID, TokenFilePath: c.FederatedTokenFile, DisableInstanceDiscovery: noDiscovery,
			AdditionallyAllowedTenants: anyTenant})
	case c.ManagedIdentity != "":
		// A managed identity cannot get tokens for another tenant; it signs
		// in as the multi-tenant app instead, as that app's federated
		// credential.
		miOpts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 3},
			Transport: opts.Transport}}
		if c.ManagedIdentity != "system" {
			miOpts.ID = azidentity.ClientID(c.ManagedIdentity)
		}
		mi, err := azidentity.NewManagedIdentityCredential(miOpts)
		if err != nil {
			return nil, fmt.Errorf("CTSYNC_MANAGED_IDENTITY: %w", err)
		}
		assertion := func(ctx context.Context) (string, error) {
			tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://AzureADTokenExchange/.default"}})
			return tok.Token, err
		}
		return azidentity.NewClientAssertionCredential(tenantID, c.ClientID, assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery, AdditionallyAllowedTenants: anyTenant})
	}
	return nil, c.CheckCredentials()
}

// PlatformCredential is the host's own managed identity (system-assigned, or
// the user-assigned one whose client id is given), for Azure resources such
// as Service Bus. It is not used for Graph: tokens for the tenants come from
// the multi-tenant app.
func PlatformCredential(clientID string) (azcore.TokenCredential, error) {
	opts := &azidentity.ManagedIdentityCredentialOptions{}
	if clientID != "" {
		opts.ID = azidentity.ClientID(clientID)
	}
	return azidentity.NewManagedIdentityCredential(opts)
}

// tenantCredential asks a shared credential for tokens of one tenant.
type tenantCredential struct {
	shared   azcore.TokenCredential
	tenantID string
}

func (t tenantCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	opts.TenantID = t.tenantID
	return t.shared.GetToken(ctx, opts)
}
