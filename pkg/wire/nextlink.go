package wire

import (
	"fmt"
	"net/url"
	"strings"
)

// CheckNextLink accepts a provisioning logs page's @odata.nextLink only if
// it points where the first page came from: the same scheme and host as
// graphEndpoint, a /beta or /v1.0 auditLogs/provisioning path, no user
// information. The link comes from the server's answer; following it
// anywhere else would send the tenant's bearer token there, or read
// another resource as if it were the logs.
func CheckNextLink(graphEndpoint, next string) error {
	return CheckNextLinkOf(graphEndpoint, next, "auditLogs/provisioning")
}

// CheckNextLinkOf is CheckNextLink for any collection: the link must name
// resource (e.g. servicePrincipals/{id}/appRoleAssignedTo, the path of the
// first page without the version) under /beta or /v1.0.
func CheckNextLinkOf(graphEndpoint, next, resource string) error {
	base, err := url.Parse(graphEndpoint)
	if err != nil || base.Host == "" {
		return fmt.Errorf("graph endpoint %q is not a URL", graphEndpoint)
	}
	u, err := url.Parse(next)
	if err != nil {
		return fmt.Errorf("@odata.nextLink is not a URL: %w", err)
	}
	switch {
	case !strings.EqualFold(u.Scheme, base.Scheme):
		return fmt.Errorf("@odata.nextLink scheme %q differs from the Graph endpoint's %q", u.Scheme, base.Scheme)
	case !strings.EqualFold(u.Host, base.Host):
		return fmt.Errorf("@odata.nextLink points to host %q, not the Graph endpoint %q", u.Host, base.Host)
	case u.User != nil:
		return fmt.Errorf("@odata.nextLink carries user information")
	case u.Opaque != "" || u.Fragment != "":
		return fmt.Errorf("@odata.nextLink is not a plain resource URL")
	}
	path := strings.TrimPrefix(u.EscapedPath(), strings.TrimSuffix(base.EscapedPath(), "/"))
	resource = strings.Trim(resource, "/")
	if path != "/beta/"+resource && path != "/v1.0/"+resource {
		return fmt.Errorf("@odata.nextLink points to %q, not to %s", u.Path, resource)
	}
	return nil
}
