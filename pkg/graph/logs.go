package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/microsoftgraph/msgraph-beta-sdk-go/auditlogs"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/wire"
)

// ProvisioningLogs reads one page of provisioning records through the SDK's
// request builder and pipeline (authentication, telemetry, read retries),
// but decodes the body with encoding/json into the few fields ctsync acts on
// and keeps each record's original JSON for the sinks. Building SDK models
// for every record would cost several times the memory and time and would
// drop properties the SDK does not know.
func (d *directory) ProvisioningLogs(ctx context.Context, q entra.LogQuery, next string) (entra.LogPage, error) {
	builder := d.auditLogs().Provisioning()
	var cfg *auditlogs.ProvisioningRequestBuilderGetRequestConfiguration
	if next != "" {
		if err := wire.CheckNextLink(d.endpoint, next); err != nil {
			return entra.LogPage{}, fault.New(fault.Invalid, string(entra.OpProvisioningLogs), "%v", err)
		}
		builder = builder.WithUrl(next)
	} else {
		filter := fmt.Sprintf("servicePrincipal/id eq %s and activityDateTime gt %s",
			odataString(q.ServicePrincipalID), q.After.UTC().Format(time.RFC3339Nano))
		top := int32(q.Top)
		cfg = &auditlogs.ProvisioningRequestBuilderGetRequestConfiguration{
			QueryParameters: &auditlogs.ProvisioningRequestBuilderGetQueryParameters{
				Filter: &filter, Top: &top, Orderby: []string{"activityDateTime asc"},
			},
		}
	}
	ri, err := builder.ToGetRequestInformation(ctx, cfg)
	if err != nil {
		return entra.LogPage{}, d.fail(entra.OpProvisioningLogs, err)
	}
	body, err := d.getRaw(ctx, entra.OpProvisioningLogs, ri)
	if err != nil {
		return entra.LogPage{}, err
	}
	return decodeLogPage(body)
}

func decodeLogPage(body []byte) (entra.LogPage, error) {
	page, err := entra.DecodeLogPage(body)
	if err != nil {
		return entra.LogPage{}, fault.New(fault.Transient, string(entra.OpProvisioningLogs), "%v", err)
	}
	return page, nil
}
