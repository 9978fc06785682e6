package entra

import "fmt"

// Op names a Graph operation, as "METHOD /path/template".
type Op string

// The operations ctsync performs.
const (
	OpSignIn              Op = "POST /{tenantId}/oauth2/v2.0/token"
	OpGetPartner          Op = "GET /policies/crossTenantAccessPolicy/partners/{tenantId}"
	OpCreatePartner       Op = "POST /policies/crossTenantAccessPolicy/partners"
	OpUpdatePartner       Op = "PATCH /policies/crossTenantAccessPolicy/partners/{tenantId}"
	OpGetIdentitySync     Op = "GET /policies/crossTenantAccessPolicy/partners/{tenantId}/identitySynchronization"
	OpPutIdentitySync     Op = "PUT /policies/crossTenantAccessPolicy/partners/{tenantId}/identitySynchronization"
	OpPatchIdentitySync   Op = "PATCH /policies/crossTenantAccessPolicy/partners/{tenantId}/identitySynchronization"
	OpFindSP              Op = "GET /servicePrincipals?$filter"
	OpGetSP               Op = "GET /servicePrincipals/{id}"
	OpInstantiate         Op = "POST /applicationTemplates/{id}/instantiate"
	OpValidateCredentials Op = "POST /servicePrincipals/{id}/synchronization/jobs/validateCredentials"
	OpListJobs            Op = "GET /servicePrincipals/{id}/synchronization/jobs"
	OpCreateJob           Op = "POST /servicePrincipals/{id}/synchronization/jobs"
	OpGetJob              Op = "GET /servicePrincipals/{id}/synchronization/jobs/{jobId}"
	OpPutSecrets          Op = "PUT /servicePrincipals/{id}/synchronization/secrets"
	OpListAssignments     Op = "GET /servicePrincipals/{id}/appRoleAssignedTo"
	OpAssign              Op = "POST /servicePrincipals/{id}/appRoleAssignedTo"
	OpGetSchema           Op = "GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema"
	OpPutSchema           Op = "PUT /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema"
	OpFilterOperators     Op = "GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema/filterOperators"
	OpUnassign            Op = "DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}"
	OpGetUser             Op = "GET /users/{id}"
	OpListGroupMembers    Op = "GET /groups/{id}/members"
	OpProvisionOnDemand   Op = "POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/provisionOnDemand"
	OpStartJob            Op = "POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/start"
	OpRestartJob          Op = "POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/restart"
	OpProvisioningLogs    Op = "GET /auditLogs/provisioning"
	OpDeleteJob           Op = "DELETE /servicePrincipals/{id}/synchronization/jobs/{jobId}"
	OpDeleteSP            Op = "DELETE /servicePrincipals/{id}"
	OpFindApplication     Op = "GET /applications?$filter"
	OpDeleteApplication   Op = "DELETE /applications/{id}"
	OpDeleteIdentitySync  Op = "DELETE /policies/crossTenantAccessPolicy/partners/{tenantId}/identitySynchronization"
	OpDeletePartner       Op = "DELETE /policies/crossTenantAccessPolicy/partners/{tenantId}"
)

// Access is what an operation needs: the least-privileged application
// permission (granted with admin consent in that tenant) and, for delegated
// use, the least-privileged directory role — as Microsoft documents them.
type Access struct {
	Permission string
	Role       string
}

var access = map[Op]Access{
	OpGetPartner:          {"Policy.Read.All", "Security Reader"},
	OpCreatePartner:       {"Policy.ReadWrite.CrossTenantAccess", "Security Administrator"},
	OpUpdatePartner:       {"Policy.ReadWrite.CrossTenantAccess", "Security Administrator"},
	OpGetIdentitySync:     {"Policy.Read.All", "Security Reader"},
	OpPutIdentitySync:     {"Policy.ReadWrite.CrossTenantAccess", "Security Administrator"},
	OpPatchIdentitySync:   {"Policy.ReadWrite.CrossTenantAccess", "Security Administrator"},
	OpFindSP:              {"Application.Read.All", "Cloud Application Administrator"},
	OpGetSP:               {"Application.Read.All", "Cloud Application Administrator"},
	OpInstantiate:         {"Application.ReadWrite.All", "Cloud Application Administrator or Application Administrator"},
	OpValidateCredentials: {"Synchronization.ReadWrite.All", "Hybrid Identity Administrator"},
	OpListJobs:            {"Synchronization.Read.All", "Hybrid Identity Administrator"},
	OpCreateJob:           {"Synchronization.ReadWrite.All", "Hybrid Identity Administrator"},
	OpGetJob:              {"Synchronization.Read.All", "Hybrid Identity Administrator"},
	OpPutSecrets:          {"Synchronization.ReadWrite.All", "Hybrid Identity Administrator"},
	OpListAssignments:     {"Application.Read.All", "Cloud Application Administrator"},
	OpAssign:              {"AppRoleAssignment.ReadWrite.All (with Application.Read.All)", "Cloud Application Administrator or Application Administrator"},
	OpGetSchema:           {"Synchronization.Read.All", "Hybrid Identity Administrator"},
	OpPutSchema:           {"Synchronization.ReadWrite.All", "Hybrid Identity Administrator"},
	OpFilterOperators:     {"Synchronization.Read.All", "Hybrid Identity Administrator"},
	OpUnassign:            {"AppRoleAssignment.ReadWrite.All (with Application.Read.All)", "Cloud Application Administrator or Application Administrator"},
	OpGetUser:             {"User.Read.All", "Directory Readers"},
	OpListGroupMembers:    {"GroupMember.Read.All", "Directory Readers"},
	OpProvisionOnDemand:   {"Synchronization.ReadWrite.All", "Hybrid Identity Administrator"},
	OpStartJob:            {"Synchronization.ReadWrite.All", "Hybrid Identity Administrator"},
	OpRestartJob:          {"Synchronization.ReadWrite.All", "Hybrid Identity Administrator"},
	OpProvisioningLogs:    {"AuditLog.Read.All (with Directory.Read.All)", "Reports Reader"},
	OpDeleteJob:           {"Synchronization.ReadWrite.All", "Hybrid Identity Administrator"},
	OpDeleteSP:            {"Application.ReadWrite.All", "Cloud Application Administrator or Application Administrator"},
	OpFindApplication:     {"Application.Read.All", "Cloud Application Administrator"},
	OpDeleteApplication:   {"Application.ReadWrite.All", "Cloud Application Administrator or Application Administrator"},
	OpDeleteIdentitySync:  {"Policy.ReadWrite.CrossTenantAccess", "Security Administrator"},
	OpDeletePartner:       {"Policy.ReadWrite.CrossTenantAccess", "Security Administrator"},
}

// DeniedRemedy tells an administrator what to grant when op was refused in tenantID.
func DeniedRemedy(op Op, tenantID string) string {
	a, ok := access[op]
	if !ok {
		return fmt.Sprintf("grant the ctsync application the permission %s needs in tenant %s", op, tenantID)
	}
	return fmt.Sprintf("in tenant %s, grant the ctsync application the Microsoft Graph application permission %s and give admin consent "+
		"(for delegated use, the signed-in user needs the %s role), then replay the dead letter", tenantID, a.Permission, a.Role)
}
