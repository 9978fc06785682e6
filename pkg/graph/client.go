package graph

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	kiotaazure "github.com/microsoft/kiota-authentication-azure-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	textserialization "github.com/microsoft/kiota-serialization-text-go"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/applicationtemplates"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/policies"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/serviceprincipals"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
)

// Client implements entra.Directories: one Graph client per tenant, each
// authenticated with a token for that tenant.
type Client struct {
	cfg     Config
	mu      sync.Mutex
	tenants map[string]*directory
}

var _ entra.Directories = (*Client)(nil)

// New checks the configuration and returns a client. Tokens are requested
// lazily, per tenant, on the first call.
func New(cfg Config) (*Client, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if err := cfg.CheckCredentials(); err != nil {
		return nil, err
	}
	registerSerializers()
	return &Client{cfg: cfg, tenants: map[string]*directory{}}, nil
}

// Config returns the normalized configuration.
func (c *Client) Config() Config { return c.cfg }

var registerOnce sync.Once

// registerSerializers does what the SDK's root client constructor does. The
// root package pulls in every Graph API (minutes of compile time); ctsync
// uses four request builder packages directly instead.
func registerSerializers() {
	registerOnce.Do(func() {
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
			return jsonserialization.NewJsonSerializationWriterFactory()
		})
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
			return textserialization.NewTextSerializationWriterFactory()
		})
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory {
			return jsonserialization.NewJsonParseNodeFactory()
		})
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory {
			return textserialization.NewTextParseNodeFactory()
		})
	})
}

// Tenant returns the directory of tenantID. Tenant ids are validated where
// they enter ctsync (events, CLI flags) and again by azidentity.
func (c *Client) Tenant(ctx context.Context, tenantID string) (entra.Directory, error) {
	key := strings.ToLower(tenantID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.tenants[key]; ok {
		return d, nil
	}
	d, err := c.newDirectory(key)
	if err != nil {
		return nil, err
	}
	c.tenants[key] = d
	return d, nil
}

// directory is one tenant's Graph.
type directory struct {
	tenantID string
	endpoint string // the Graph endpoint, e.g. https://graph.microsoft.com
	cred     azcore.TokenCredential
	scope    string
	adapter  abstractions.RequestAdapter
	params   map[string]string
}

func (c *Client) newDirectory(tenantID string) (*directory, error) {
	cred, err := c.cfg.credential(tenantID)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "credential", err)
	}
	u, _ := url.Parse(c.cfg.GraphEndpoint)
	auth, err := kiotaazure.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{c.cfg.GraphEndpoint + "/.default"}, []string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph auth provider: %w", err)
	}
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, clientOptions, nil, nil, c.cfg.httpClient())
	if err != nil {
		return nil, fmt.Errorf("graph adapter: %w", err)
	}
	base := c.cfg.GraphEndpoint + "/beta"
	adapter.SetBaseUrl(base)
	return &directory{tenantID: tenantID, endpoint: c.cfg.GraphEndpoint, cred: cred, scope: c.cfg.GraphEndpoint + "/.default", adapter: adapter,
		params: map[string]string{"baseurl": base}}, nil
}

// SignIn obtains a token for the tenant. azidentity caches it, so the
// Graph calls that follow reuse it.
func (d *directory) SignIn(ctx context.Context) error {
	_, err := d.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{d.scope}})
	return d.fail(entra.OpSignIn, err)
}

func (d *directory) TenantID() string { return d.tenantID }

func (d *directory) pathParams() map[string]string {
	return map[string]string{"baseurl": d.params["baseurl"]}
}

func (d *directory) partners() *policies.CrossTenantAccessPolicyPartnersRequestBuilder {
	return policies.NewPoliciesRequestBuilderInternal(d.pathParams(), d.adapter).CrossTenantAccessPolicy().Partners()
}

func (d *directory) servicePrincipals() *serviceprincipals.ServicePrincipalsRequestBuilder {
	return serviceprincipals.NewServicePrincipalsRequestBuilderInternal(d.pathParams(), d.adapter)
}

func (d *directory) templates() *applicationtemplates.ApplicationTemplatesRequestBuilder {
	return applicationtemplates.NewApplicationTemplatesRequestBuilderInternal(d.pathParams(), d.adapter)
}

func (d *directory) auditLogs() *auditlogs.AuditLogsRequestBuilder {
	return auditlogs.NewAuditLogsRequestBuilderInternal(d.pathParams(), d.adapter)
}

func (d *directory) jobs(spID string) *serviceprincipals.ItemSynchronizationJobsRequestBuilder {
	return d.servicePrincipals().ByServicePrincipalId(spID).Synchronization().Jobs()
}

func (d *directory) fail(op entra.Op, err error) error { return classify(op, d.tenantID, err) }
