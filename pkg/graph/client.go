package graph

import (
	"container/list"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	kiotaazure "github.com/microsoft/kiota-authentication-azure-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	textserialization "github.com/microsoft/kiota-serialization-text-go"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/applicationtemplates"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/policies"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/serviceprincipals"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
)

// Client implements entra.Directories: one Graph client per tenant, each
// authenticated with a token for that tenant. Every tenant's client shares
// one HTTP transport (and connection pool) for Graph and one for the login
// service, so a thousand tenants cost a thousand token caches, not a
// thousand pools of TLS connections. Tenants' clients are cached up to
// MaxTenants and the least recently used is let go beyond that.
type Client struct {
	cfg       Config
	graphHTTP *http.Client
	pacer     *Pacer
	loginOpts azcore.ClientOptions

	mu      sync.Mutex
	tenants map[string]*list.Element // of *directory
	recent  *list.List               // most recently used first
	// creds are a few credentials of the app shared by all tenants, each
	// keeping its tenants' tokens: one credential (and its MSAL client)
	// per tenant would cost a thousand clients for a thousand tenants,
	// one for all would sign in to new tenants one at a time.
	creds [credentialShards]azcore.TokenCredential
}

// credentialShards is how many tenants may be signing in at once.
const credentialShards = 8

// MaxTenants bounds the tenants whose clients are kept; their tokens stay
// with the shared credentials, so a client let go costs only its rebuilding.
const MaxTenants = 256

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
	login := cfg.baseTransport(loginConns)
	return &Client{cfg: cfg, graphHTTP: cfg.httpClient(), loginOpts: cfg.clientOptionsWith(login),
		pacer: NewPacer(cfg.TenantWrites, cfg.TenantWriteWindow), tenants: map[string]*list.Element{}, recent: list.New()}, nil
}

// WriteWait says how long a write to tenantID would be held back now by
// its write budget or a 429's Retry-After (zero: it would go).
func (c *Client) WriteWait(tenantID string) time.Duration { return c.pacer.Wait(tenantID) }

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
	if el, ok := c.tenants[key]; ok {
		c.recent.MoveToFront(el)
		return el.Value.(*directory), nil
	}
	d, err := c.newDirectory(key)
	if err != nil {
		return nil, err
	}
	c.tenants[key] = c.recent.PushFront(d)
	if c.recent.Len() > MaxTenants {
		oldest := c.recent.Back()
		c.recent.Remove(oldest)
		delete(c.tenants, oldest.Value.(*directory).tenantID)
	}
	return d, nil
}

// directory is one tenant's Graph.
type directory struct {
	tenantID string
	endpoint string // the Graph endpoint, e.g. https://graph.microsoft.com
	cred     tenantCredential
	scope    string
	adapter  abstractions.RequestAdapter
	params   map[string]string
}

func (c *Client) newDirectory(tenantID string) (*directory, error) {
	shard := &c.creds[fnv32(tenantID)%credentialShards]
	if *shard == nil {
		cred, err := c.cfg.credential(tenantID, c.loginOpts)
		if err != nil {
			return nil, fault.Wrap(fault.Invalid, "credential", err)
		}
		*shard = cred
	}
	cred := tenantCredential{shared: *shard, tenantID: tenantID}
	u, _ := url.Parse(c.cfg.GraphEndpoint)
	auth, err := kiotaazure.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{c.cfg.GraphEndpoint + "/.default"}, []string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph auth provider: %w", err)
	}
	// The tenant's own client only adds its write pacing; the transport
	// beneath (connections, middleware) is shared by every tenant.
	httpClient := *c.graphHTTP
	httpClient.Transport = &pacedTransport{tenant: tenantID, pacer: c.pacer, next: c.graphHTTP.Transport}
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, clientOptions, nil, nil, &httpClient)
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

// errorMappings decodes every error answer of a request ctsync builds
// itself as Graph's OData error, which classify reads.
var errorMappings = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
