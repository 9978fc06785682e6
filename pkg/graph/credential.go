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

// baseTransport is the HTTP transport for both login and Graph: the system
// trust store unless the config names its own roots.
func (c Config) baseTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if c.RootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return t
}

func (c Config) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		// An explicit authority host wins over AZURE_AUTHORITY_HOST inside
		// azidentity, so the cloud table and the override both apply.
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: &http.Client{Transport: c.baseTransport(), Timeout: c.Timeout},
		Retry:     policy.RetryOptions{MaxRetries: 3},
	}
}

// credential returns a credential that gets tokens for tenantID.
func (c Config) credential(tenantID string) (azcore.TokenCredential, error) {
	opts := c.clientOptions()
	noDiscovery := !c.authorityIsKnown()
	switch {
	case c.ClientSecret != "":
		return azidentity.NewClientSecretCredential(tenantID, c.ClientID, c.ClientSecret.Reveal(),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
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
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
	case c.FederatedTokenFile != "":
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: c.ClientID, TenantID: tenantID, TokenFilePath: c.FederatedTokenFile, DisableInstanceDiscovery: noDiscovery})
	case c.ManagedIdentity != "":
		// A managed identity cannot get tokens for another tenant; it signs
		// in as the multi-tenant app instead, as that app's federated
		// credential.
		miOpts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 3},
			Transport: &http.Client{Transport: c.baseTransport(), Timeout: c.Timeout}}}
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
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
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
