package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/users"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/wire"
)

// getRaw sends a request the SDK built and returns the body as it came:
// the schema and users carry properties the SDK's models would drop.
func (d *directory) getRaw(ctx context.Context, op entra.Op, ri *abstractions.RequestInformation) ([]byte, error) {
	raw, err := d.adapter.SendPrimitive(ctx, ri, "[]byte", errorMappings)
	if err != nil {
		return nil, d.fail(op, err)
	}
	body, _ := raw.([]byte)
	return body, nil
}

// GetSchema reads the whole schema as JSON, so a PUT of it keeps every
// field, including those newer than the SDK.
func (d *directory) GetSchema(ctx context.Context, spID, jobID string) (*entra.Schema, error) {
	ri, err := d.jobs(spID).BySynchronizationJobId(jobID).Schema().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, d.fail(entra.OpGetSchema, err)
	}
	body, err := d.getRaw(ctx, entra.OpGetSchema, ri)
	if err != nil {
		return nil, err
	}
	s, err := entra.ParseSchema(body)
	if err != nil {
		return nil, fault.New(fault.Transient, string(entra.OpGetSchema), "%v", err)
	}
	return s, nil
}

// PutSchema replaces the schema. The SDK only offers PATCH, which the
// synchronization service answers with 404 (msgraph-metadata #676), so the
// request is the SDK's PATCH with its method set to PUT and the body the
// whole document.
func (d *directory) PutSchema(ctx context.Context, spID, jobID string, schema *entra.Schema) error {
	body, err := schema.JSON()
	if err != nil {
		return fault.New(fault.Invalid, string(entra.OpPutSchema), "%v", err)
	}
	ri, err := d.jobs(spID).BySynchronizationJobId(jobID).Schema().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return d.fail(entra.OpPutSchema, err)
	}
	ri.Method = abstractions.PUT
	ri.Headers.TryAdd("Accept", "application/json")
	ri.SetStreamContentAndContentType(body, "application/json")
	if err := d.adapter.SendNoContent(ctx, ri, errorMappings); err != nil {
		return d.fail(entra.OpPutSchema, err)
	}
	return nil
}

func (d *directory) FilterOperators(ctx context.Context, spID, jobID string) ([]entra.FilterOperator, error) {
	ri, err := d.jobs(spID).BySynchronizationJobId(jobID).Schema().FilterOperators().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, d.fail(entra.OpFilterOperators, err)
	}
	body, err := d.getRaw(ctx, entra.OpFilterOperators, ri)
	if err != nil {
		return nil, err
	}
	var page struct {
		Value []entra.FilterOperator `json:"value"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fault.New(fault.Transient, string(entra.OpFilterOperators), "filterOperators answer: %v", err)
	}
	return page.Value, nil
}

func (d *directory) Unassign(ctx context.Context, spID, assignmentID string) error {
	err := d.servicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().ByAppRoleAssignmentId(assignmentID).Delete(ctx, nil)
	if err != nil {
		return d.fail(entra.OpUnassign, err)
	}
	return nil
}

func userSelect(properties []string) []string {
	sel := []string{"id", "displayName", "userType"}
	for _, p := range properties {
		if !strings.EqualFold(p, "id") && !strings.EqualFold(p, "displayName") && !strings.EqualFold(p, "userType") {
			sel = append(sel, p)
		}
	}
	return sel
}

func userFrom(obj map[string]any) entra.User {
	u := entra.User{Properties: map[string]any{}}
	u.ID, _ = obj["id"].(string)
	u.DisplayName, _ = obj["displayName"].(string)
	u.UserType, _ = obj["userType"].(string)
	for k, v := range obj {
		if v != nil && !strings.HasPrefix(k, "@odata") {
			u.Properties[k] = v
		}
	}
	return u
}

func (d *directory) GetUser(ctx context.Context, id string, properties []string) (entra.User, error) {
	builder := users.NewUsersRequestBuilderInternal(d.pathParams(), d.adapter).ByUserId(id)
	ri, err := builder.ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userSelect(properties)}})
	if err != nil {
		return entra.User{}, d.fail(entra.OpGetUser, err)
	}
	body, err := d.getRaw(ctx, entra.OpGetUser, ri)
	if err != nil {
		return entra.User{}, err
	}
	var obj map[string]any
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&obj); err != nil {
		return entra.User{}, fault.New(fault.Transient, string(entra.OpGetUser), "user answer: %v", err)
	}
	return userFrom(obj), nil
}

// ListGroupMembers pages through /members (direct members only); members
// that are not users are left out.
func (d *directory) ListGroupMembers(ctx context.Context, groupID string, properties []string) ([]entra.User, error) {
	builder := groups.NewGroupsRequestBuilderInternal(d.pathParams(), d.adapter).ByGroupId(groupID).Members()
	ri, err := builder.ToGetRequestInformation(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: userSelect(properties)}})
	if err != nil {
		return nil, d.fail(entra.OpListGroupMembers, err)
	}
	var out []entra.User
	for pages := 0; ; pages++ {
		body, err := d.getRaw(ctx, entra.OpListGroupMembers, ri)
		if err != nil {
			return nil, err
		}
		var page struct {
			Value    []map[string]any `json:"value"`
			NextLink string           `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fault.New(fault.Transient, string(entra.OpListGroupMembers), "members answer: %v", err)
		}
		for _, m := range page.Value {
			if t, _ := m["@odata.type"].(string); t == "" || t == "#microsoft.graph.user" {
				out = append(out, userFrom(m))
			}
		}
		if page.NextLink == "" {
			return out, nil
		}
		if err := wire.CheckNextLinkOf(d.endpoint, page.NextLink, "groups/"+groupID+"/members"); err != nil {
			return nil, fault.New(fault.Invalid, string(entra.OpListGroupMembers), "%v", err)
		}
		if pages > 10000 {
			return nil, fault.New(fault.Invalid, string(entra.OpListGroupMembers), "group %s has more than 10,000 pages of members", groupID)
		}
		ri, err = builder.WithUrl(page.NextLink).ToGetRequestInformation(ctx, nil)
		if err != nil {
			return nil, d.fail(entra.OpListGroupMembers, err)
		}
	}
}
