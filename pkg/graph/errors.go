package graph

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/models/odataerrors"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
)

// classify turns whatever the SDK or azidentity returned into a *fault.Error.
// It never calls ODataError.Error(), which panics when the body has no
// message.
func classify(op entra.Op, tenantID string, err error) error {
	if err == nil {
		return nil
	}
	if fault.Canceled(err) {
		return err
	}
	fe := &fault.Error{Op: string(op), Tenant: tenantID}
	if wait, ok := Paced(err); ok {
		// Never sent: the tenant's write budget is spent for now.
		fe.Kind, fe.Code, fe.RetryAfter, fe.Err = fault.Throttled, PacedCode, wait, err
		fe.Message = err.Error()
		return fe
	}
	var odata *odataerrors.ODataError
	var api *abstractions.ApiError
	var auth *azidentity.AuthenticationFailedError
	var headers *abstractions.ResponseHeaders
	switch {
	case errors.As(err, &odata):
		fe.Status = odata.ResponseStatusCode
		headers = odata.ResponseHeaders
		if main := odata.GetErrorEscaped(); main != nil {
			fe.Code = deref(main.GetCode())
			fe.Message = deref(main.GetMessage())
			if inner := main.GetInnerError(); inner != nil {
				fe.RequestID = deref(inner.GetRequestId())
			}
		}
	case errors.As(err, &api):
		fe.Status = api.ResponseStatusCode
		headers = api.ResponseHeaders
		fe.Message = api.Message
	case errors.As(err, &auth):
		return classifyLogin(fe, auth)
	default:
		fe.Kind = fault.Transient
		fe.Err = err
		return fe
	}
	if fe.Message == "" {
		fe.Message = fmt.Sprintf("HTTP %d with no error message", fe.Status)
	}
	if headers != nil {
		for _, name := range []string{"Retry-After", "retry-after"} {
			if v := headers.Get(name); len(v) > 0 {
				if d, ok := parseRetryAfter(v[0], time.Now()); ok {
					fe.RetryAfter = d
				}
				break
			}
		}
		if fe.RequestID == "" {
			if v := headers.Get("request-id"); len(v) > 0 {
				fe.RequestID = v[0]
			}
		}
	}
	fe.Kind = kindOf(fe.Status, fe.Code, fe.Message)
	if fe.Kind == fault.Denied {
		fe.Remedy = entra.DeniedRemedy(op, tenantID)
	}
	return fe
}

// PacedCode marks a write ctsync's own pacer held back (never sent).
const PacedCode = "ctsyncPaced"

func kindOf(status int, code, message string) fault.Kind {
	switch {
	case code == "Request_MultipleObjectsWithSameKeyValue", strings.Contains(message, "already exists"):
		// Graph answers some duplicates with 400 Request_BadRequest, others
		// with 409: the code and message decide, not the status.
		return fault.Conflict
	case status == http.StatusTooManyRequests:
		return fault.Throttled
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return fault.Denied
	case status == http.StatusNotFound:
		return fault.NotFound
	case status == http.StatusConflict, status == http.StatusPreconditionFailed:
		return fault.Conflict
	case status >= 500, status == http.StatusRequestTimeout:
		return fault.Transient
	}
	return fault.Invalid
}

// classifyLogin explains token failures; the AADSTS code says what to fix.
func classifyLogin(fe *fault.Error, auth *azidentity.AuthenticationFailedError) error {
	msg := auth.Error()
	fe.Message = firstLine(msg)
	if auth.RawResponse != nil {
		fe.Status = auth.RawResponse.StatusCode
	}
	switch {
	case strings.Contains(msg, "AADSTS700016"):
		fe.Kind, fe.Code = fault.Denied, "AADSTS700016"
		fe.Remedy = fmt.Sprintf("the ctsync application (AZURE_CLIENT_ID) is not consented in tenant %s: an administrator of that tenant must grant admin consent to it (it is one multi-tenant app consented in both tenants)", fe.Tenant)
	case strings.Contains(msg, "AADSTS7000215"), strings.Contains(msg, "AADSTS7000222"):
		fe.Kind, fe.Code = fault.Denied, "AADSTS7000215"
		fe.Remedy = "AZURE_CLIENT_SECRET is wrong or expired: set the secret's value (not its id) of a current client secret"
	case strings.Contains(msg, "AADSTS90002"):
		fe.Kind, fe.Code = fault.Invalid, "AADSTS90002"
		fe.Remedy = fmt.Sprintf("tenant %s does not exist in this cloud: check the tenant id and CTSYNC_CLOUD/AZURE_AUTHORITY_HOST", fe.Tenant)
	case fe.Status == 0 || fe.Status >= 500 || fe.Status == http.StatusTooManyRequests:
		fe.Kind = fault.Transient
	default:
		fe.Kind = fault.Denied
		fe.Remedy = "check AZURE_CLIENT_ID and the credential settings; the login service refused them"
	}
	return fe
}

func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "AADSTS") {
			return strings.TrimSpace(line)
		}
	}
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
