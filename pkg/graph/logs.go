package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/models/odataerrors"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
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
	raw, err := d.adapter.SendPrimitive(ctx, ri, "[]byte", abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	if err != nil {
		return entra.LogPage{}, d.fail(entra.OpProvisioningLogs, err)
	}
	body, _ := raw.([]byte)
	return decodeLogPage(body)
}

type logEnvelope struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

type logFields struct {
	ID               string    `json:"id"`
	ActivityDateTime time.Time `json:"activityDateTime"`
	JobID            string    `json:"jobId"`
	Action           string    `json:"provisioningAction"`
	ServicePrincipal struct {
		ID string `json:"id"`
	} `json:"servicePrincipal"`
	SourceIdentity identity `json:"sourceIdentity"`
	TargetIdentity identity `json:"targetIdentity"`
	Status         struct {
		Status string `json:"status"`
		Error  *struct {
			ErrorCode         string `json:"errorCode"`
			Reason            string `json:"reason"`
			RecommendedAction string `json:"recommendedAction"`
		} `json:"errorInformation"`
	} `json:"provisioningStatusInfo"`
}

type identity struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

func decodeLogPage(body []byte) (entra.LogPage, error) {
	var env logEnvelope
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&env); err != nil {
		return entra.LogPage{}, fault.New(fault.Transient, string(entra.OpProvisioningLogs), "undecodable provisioning page: %v", err)
	}
	page := entra.LogPage{NextLink: env.NextLink, Records: make([]entra.LogRecord, 0, len(env.Value))}
	for _, raw := range env.Value {
		var f logFields
		if err := json.Unmarshal(raw, &f); err != nil {
			return entra.LogPage{}, fault.New(fault.Transient, string(entra.OpProvisioningLogs), "undecodable provisioning record: %v", err)
		}
		if f.ID == "" || f.ActivityDateTime.IsZero() {
			return entra.LogPage{}, fault.New(fault.Transient, string(entra.OpProvisioningLogs), "provisioning record without id or activityDateTime")
		}
		rec := entra.LogRecord{ID: f.ID, ActivityDateTime: f.ActivityDateTime.UTC(), JobID: f.JobID, ServicePrincipalID: f.ServicePrincipal.ID,
			Action: f.Action, Status: f.Status.Status, SourceID: f.SourceIdentity.ID, SourceName: f.SourceIdentity.DisplayName,
			TargetID: f.TargetIdentity.ID, TargetName: f.TargetIdentity.DisplayName, Raw: raw}
		if e := f.Status.Error; e != nil {
			rec.ErrorCode, rec.Reason, rec.RecommendedAction = e.ErrorCode, e.Reason, e.RecommendedAction
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}
