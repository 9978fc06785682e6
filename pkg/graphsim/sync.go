package graphsim

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// zeroTime is how Entra spells "never" in synchronization status.
const zeroTime = "0001-01-01T00:00:00Z"

type job struct {
	id, templateID, ruleID, groupRuleID string
	sourceTenant                        string
	created, visibleAt                  time.Time
	scheduleState, statusCode           string
	started, nextCycle                  time.Time
	cycles                              int
	lastExecution                       *execution
	lastSuccess                         *execution
	steadyFirst, steadyLast             time.Time
	quarantine                          *quarantine
	successiveFailures                  int
	// schema is the job's synchronization schema as PUT replaced it last.
	schema map[string]any
	// forceDeletes lets the next cycle make the deletions the threshold
	// held back (restart with ForceDeletes).
	forceDeletes bool
}

type execution struct {
	state                               string
	began, ended                        time.Time
	imported, exported, escrowed, total int
	errCode, errMessage                 string
	notRunYet                           bool
}

type quarantine struct {
	reason                   string
	began, seriesBegan, next time.Time
	seriesCount              int
	errCode, errMessage      string
}

func timeOrZero(t time.Time) string {
	if t.IsZero() {
		return zeroTime
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (e *execution) json() any {
	if e == nil {
		return nil
	}
	var errBody any
	if e.notRunYet {
		errBody = map[string]any{"code": "None", "message": "", "tenantActionable": false}
	} else if e.errCode != "" {
		errBody = map[string]any{"code": e.errCode, "message": e.errMessage, "tenantActionable": true}
	}
	began, ended := timeOrZero(e.began), timeOrZero(e.ended)
	if e.notRunYet {
		began, ended = zeroTime, zeroTime
	}
	return map[string]any{
		"activityIdentifier": nil, "countEntitled": e.total, "countEntitledForProvisioning": e.total,
		"countEscrowed": e.escrowed, "countEscrowedRaw": e.escrowed, "countExported": e.exported, "countExports": e.exported,
		"countImported": e.imported, "countImportedDeltas": e.imported, "countImportedReferenceDeltas": 0,
		"error": errBody, "state": e.state, "timeBegan": began, "timeEnded": ended,
	}
}

func (c *call) jobJSON(sp *servicePrincipal, j *job) map[string]any {
	var q any
	if j.quarantine != nil {
		q = map[string]any{
			"currentBegan": timeOrZero(j.quarantine.began), "nextAttempt": timeOrZero(j.quarantine.next), "reason": j.quarantine.reason,
			"seriesBegan": timeOrZero(j.quarantine.seriesBegan), "seriesCount": j.quarantine.seriesCount,
			"error": map[string]any{"code": j.quarantine.errCode, "message": j.quarantine.errMessage, "tenantActionable": true},
		}
	}
	progress := []any{}
	counts := []any{}
	if j.lastSuccess != nil {
		counts = append(counts, map[string]any{"key": "user", "value": j.lastSuccess.total})
	}
	return map[string]any{
		"@odata.context": c.context("servicePrincipals('" + sp.id + "')/synchronization/jobs/$entity"),
		"id":             j.id,
		"templateId":     j.templateID,
		"schedule":       map[string]any{"expiration": nil, "interval": "PT40M", "state": j.scheduleState},
		"status": map[string]any{
			"code": j.statusCode, "countSuccessiveCompleteFailures": j.successiveFailures, "escrowsPruned": false,
			"lastExecution": j.lastExecution.json(), "lastSuccessfulExecution": j.lastSuccess.json(),
			"lastSuccessfulExecutionWithExports": j.lastSuccess.json(), "progress": progress, "quarantine": q,
			"steadyStateFirstAchievedTime": timeOrZero(j.steadyFirst), "steadyStateLastAchievedTime": timeOrZero(j.steadyLast),
			"synchronizedEntryCountByType": counts, "troubleshootingUrl": nil,
		},
		"synchronizationJobSettings": []any{
			map[string]any{"name": "AzureIngestionAttributeOptimization", "value": "False"},
			map[string]any{"name": "LookaheadQueryEnabled", "value": "False"},
		},
	}
}

func (c *call) lookupJob(sp *servicePrincipal) (*job, bool) {
	id := c.r.PathValue("job")
	j, ok := sp.jobs[id]
	if !ok || c.s.now().Before(j.visibleAt) {
		c.notFound(id)
		return nil, false
	}
	return j, true
}

// lookupJobOfSP finds a readable service principal and its readable job,
// answering 404 itself.
func (c *call) lookupJobOfSP() (*servicePrincipal, *job, bool) {
	sp, ok := c.lookupSP()
	if !ok {
		return nil, nil, false
	}
	j, ok := c.lookupJob(sp)
	return sp, j, ok
}

func (s *Server) listJobs(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	var jobs []*job
	for _, j := range sp.jobs {
		if !s.now().Before(j.visibleAt) {
			jobs = append(jobs, j)
		}
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].created.Before(jobs[b].created) })
	value := []any{}
	for _, j := range jobs {
		m := c.jobJSON(sp, j)
		delete(m, "@odata.context")
		value = append(value, m)
	}
	c.writeJSON(http.StatusOK, map[string]any{"@odata.context": c.context("servicePrincipals('" + sp.id + "')/synchronization/jobs"), "value": value})
}

// createJob creates a job, disabled and paused. Like instantiate it is not
// idempotent, and a new job answers 404 for JobReplicationDelay.
func (s *Server) createJob(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	var body struct {
		TemplateID string `json:"templateId"`
	}
	if !c.decode(&body) {
		return
	}
	if body.TemplateID != "Azure2Azure" {
		c.badRequest("BadRequest", fmt.Sprintf("Synchronization template '%s' was not found for this application.", body.TemplateID))
		return
	}
	now := s.now()
	j := &job{
		id:         "Azure2Azure." + hex.EncodeToString(randomBytes(16)) + "." + c.tenant.id,
		templateID: body.TemplateID, ruleID: newID(), groupRuleID: newID(), sourceTenant: c.tenant.id,
		created: now, visibleAt: now.Add(s.opts.JobReplicationDelay), scheduleState: "Disabled", statusCode: "Paused",
	}
	j.schema = cloneJSON(defaultSchema(j, s.opts.BuiltInFilterIn)).(map[string]any)
	sp.jobs[j.id] = j
	c.writeJSON(http.StatusCreated, c.jobJSON(sp, j))
}

func (s *Server) getJob(c *call) {
	if sp, j, ok := c.lookupJobOfSP(); ok {
		c.writeJSON(http.StatusOK, c.jobJSON(sp, j))
	}
}

func (s *Server) deleteJob(c *call) {
	if sp, j, ok := c.lookupJobOfSP(); ok {
		delete(sp.jobs, j.id)
		c.noContent()
	}
}

var knownSecretKeys = map[string]bool{
	"CompanyId": true, "AuthenticationType": true, "SyncNotificationSettings": true, "SyncAll": true,
	"BaseAddress": true, "SecretToken": true, "ClientIdentifier": true, "ClientSecret": true, "Domain": true,
	"Password": true, "UserName": true, "SingleSignOnType": true, "TestReferences": true, "Url": true, "Server": true,
	"PerformInboundEntitlementGrants": true, "HardDeletesEnabled": true, "SyncAllUsers": true, "InstanceName": true,
	"AppKey": true, "SandboxName": true, "EnforceDomain": true, "ConnectionString": true, "Sandbox": true,
}

func (s *Server) putSecrets(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	var body struct {
		Value []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"value"`
	}
	if !c.decode(&body) {
		return
	}
	if len(body.Value) == 0 {
		c.badRequest("BadRequest", "The request must contain at least one secret.")
		return
	}
	for _, kv := range body.Value {
		if !knownSecretKeys[kv.Key] {
			c.badRequest("BadRequest", fmt.Sprintf("Requested value '%s' was not found.", kv.Key))
			return
		}
	}
	for _, kv := range body.Value {
		sp.secrets[kv.Key] = kv.Value
	}
	c.noContent()
}

// policyProblem says what keeps the source tenant (this call's tenant) from
// synchronizing into target, or "" when the policies allow it.
func (s *Server) policyProblem(source *tenant, targetID string) (code, message string) {
	target, ok := s.tenants[strings.ToLower(targetID)]
	if !ok {
		return "AzureDirectoryB2BManagementPolicyCheckFailure", fmt.Sprintf("The target tenant '%s' could not be found.", targetID)
	}
	tp := target.partners[source.id]
	if tp == nil || tp.identitySync == nil || !tp.identitySync.isSyncAllowed {
		return "AzureDirectoryB2BManagementPolicyCheckFailure", "Policy permitting synchronization of users from the source tenant not configured in the target tenant."
	}
	if tp.inboundAllowed == nil || !*tp.inboundAllowed {
		return "AzureDirectoryB2BManagementPolicyCheckFailure", "Policy permitting auto-redemption of invitations not configured."
	}
	sp := source.partners[target.id]
	if sp == nil || sp.outboundAllowed == nil || !*sp.outboundAllowed {
		return "AzureDirectoryB2BManagementPolicyCheckFailure", "Policy permitting auto-redemption of invitations not configured."
	}
	return "", ""
}

func (s *Server) validateCredentials(c *call) {
	sp, ok := c.lookupSP()
	if !ok {
		return
	}
	if c.r.PathValue("job") != "" {
		if _, ok := c.lookupJob(sp); !ok {
			return
		}
	}
	var body struct {
		UseSavedCredentials bool   `json:"useSavedCredentials"`
		TemplateID          string `json:"templateId"`
		Credentials         []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"credentials"`
	}
	if !c.decode(&body) {
		return
	}
	creds := map[string]string{}
	if body.UseSavedCredentials {
		for k, v := range sp.secrets {
			creds[k] = v
		}
	}
	for _, kv := range body.Credentials {
		creds[kv.Key] = kv.Value
	}
	if c.r.PathValue("job") == "" && body.TemplateID != "Azure2Azure" {
		c.badRequest("BadRequest", fmt.Sprintf("Synchronization template '%s' was not found for this application.", body.TemplateID))
		return
	}
	if creds["AuthenticationType"] != "SyncPolicy" || !isGUID(creds["CompanyId"]) {
		c.badRequest("BadRequest", "Requested value was not found. CompanyId (the target tenant id) and AuthenticationType=SyncPolicy are required.")
		return
	}
	if code, msg := s.policyProblem(c.tenant, creds["CompanyId"]); code != "" {
		c.badRequest(code, msg)
		return
	}
	c.noContent()
}

func (s *Server) startJob(c *call) {
	_, j, ok := c.lookupJobOfSP()
	if !ok {
		return
	}
	now := s.now()
	j.scheduleState = "Active"
	if j.cycles == 0 || j.quarantine != nil || j.statusCode == "Paused" {
		j.statusCode = "NotRun"
	}
	if j.lastExecution == nil {
		j.lastExecution = &execution{state: "Failed", notRunYet: true}
	}
	j.quarantine = nil
	j.started = now
	j.nextCycle = now.Add(s.opts.InitialCycleDelay)
	c.noContent()
}

func (s *Server) pauseJob(c *call) {
	if _, j, ok := c.lookupJobOfSP(); ok {
		j.scheduleState, j.statusCode = "Paused", "Paused"
		c.noContent()
	}
}

func (s *Server) restartJob(c *call) {
	_, j, ok := c.lookupJobOfSP()
	if !ok {
		return
	}
	var body struct {
		Criteria *struct {
			ResetScope string `json:"resetScope"`
		} `json:"criteria"`
	}
	if len(strings.TrimSpace(string(c.body))) > 0 && !c.decode(&body) {
		return
	}
	if body.Criteria != nil {
		for _, flag := range strings.Split(body.Criteria.ResetScope, ",") {
			if strings.TrimSpace(flag) == "ForceDeletes" {
				j.forceDeletes = true
			}
			switch strings.TrimSpace(flag) {
			case "None", "ConnectorDataStore", "Escrows", "Watermark", "QuarantineState", "Full", "ForceDeletes", "":
			default:
				c.badRequest("BadRequest", fmt.Sprintf("Requested value '%s' was not found.", strings.TrimSpace(flag)))
				return
			}
		}
	}
	j.quarantine = nil
	j.scheduleState, j.statusCode = "Active", "NotRun"
	j.nextCycle = s.now().Add(s.opts.InitialCycleDelay)
	c.noContent()
}

// provisionOnDemand provisions one assigned user into the target tenant at
// once, throttled like Graph (5 requests per 10 seconds). The answer is a
// stringKeyStringValuePair whose key and value are JSON strings; /v1.0 uses
// the article's shape, /beta the reference page's.
func (s *Server) provisionOnDemand(c *call) {
	sp, j, ok := c.lookupJobOfSP()
	if !ok {
		return
	}
	if !c.throttle("ProvisionOnDemand", s.opts.OnDemandPerWindow, 10*time.Second) {
		return
	}
	var body struct {
		Parameters []struct {
			RuleID   string `json:"ruleId"`
			Subjects []struct {
				ObjectID       string `json:"objectId"`
				ObjectTypeName string `json:"objectTypeName"`
			} `json:"subjects"`
		} `json:"parameters"`
	}
	if !c.decode(&body) {
		return
	}
	if len(body.Parameters) != 1 || len(body.Parameters[0].Subjects) != 1 {
		c.badRequest("BadRequest", "Exactly one parameter with one subject is supported.")
		return
	}
	p := body.Parameters[0]
	subject := p.Subjects[0]
	if p.RuleID != j.ruleID && p.RuleID != j.groupRuleID {
		c.badRequest("BadRequest", fmt.Sprintf("The rule '%s' was not found in the job's schema.", p.RuleID))
		return
	}
	if sp.secrets["CompanyId"] == "" {
		c.badRequest("BadRequest", "The job's credentials are not saved. Save CompanyId and AuthenticationType before provisioning on demand.")
		return
	}
	userID := strings.ToLower(subject.ObjectID)
	u, ok := c.tenant.users[userID]
	if !ok || subject.ObjectTypeName != "User" {
		c.notFound(subject.ObjectID)
		return
	}
	result, errCode, reason := "Success", "", ""
	var rec *record
	switch code, msg := s.policyProblem(c.tenant, sp.secrets["CompanyId"]); {
	case code != "":
		result, errCode, reason = "Failure", code, msg
	case !s.entitled(c.tenant, sp, userID) || !u.passes(userMapping(j.schema)):
		result, errCode, reason = "Skipped", "NotEffectivelyEntitled", "The user is not assigned to the application, so the synchronization cycle would not provision them either."
	default:
		created, failure := s.provisionUser(c.tenant, sp, j, u)
		switch {
		case failure[0] != "":
			result, errCode, reason = "Failure", failure[0], failure[1]
		case !created:
			result, errCode, reason = "Skipped", "RedundantExport", "The user is already in the target tenant with the same attributes."
		}
		rec = c.tenant.logs.last()
	}
	now := s.now()
	steps := []any{
		map[string]any{"name": "EntryImport", "type": "Import", "status": "Success", "description": "Retrieved " + u.displayName + " from Azure Active Directory", "timestamp": now.Format(time.RFC3339Nano), "details": map[string]any{}},
		map[string]any{"name": "EntrySynchronizationScoping", "type": "Scoping", "status": ternary(result == "Skipped" && errCode == "NotEffectivelyEntitled", "Skipped", "Success"), "description": "Determine if User in scope by evaluating against each scoping filter", "timestamp": now.Format(time.RFC3339Nano), "details": map[string]any{"Assigned to the application": fmt.Sprint(s.entitled(c.tenant, sp, userID))}},
		map[string]any{"name": "EntryExportAdd", "type": "Export", "status": result, "description": reason, "timestamp": now.Format(time.RFC3339Nano), "details": map[string]any{}},
	}
	var key, value []byte
	if c.version == "v1.0" {
		key = []byte("Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo")
		value, _ = json.Marshal([]any{map[string]any{"provisioningSteps": steps}})
	} else {
		key, _ = json.Marshal(map[string]any{"result": result, "details": map[string]any{"errorCode": errCode, "reason": reason}})
		v := map[string]any{"action": "Create", "changeId": newID(), "startTime": now.Format(time.RFC3339Nano), "endTime": now.Format(time.RFC3339Nano),
			"modifiedProperties": []any{}, "provisioningSteps": steps, "reportableIdentifier": u.upn,
			"statusInfo":     map[string]any{"status": result, "errorCode": errCode, "reason": reason},
			"sourceIdentity": map[string]any{"id": u.id, "type": "User"}, "sourceSystem": map[string]any{"name": "Azure Active Directory"},
			"targetSystem": map[string]any{"name": "Azure Active Directory (target tenant)"}}
		if rec != nil {
			v["changeId"] = rec.changeID
		}
		value, _ = json.Marshal(v)
	}
	c.writeJSON(http.StatusOK, map[string]any{
		"@odata.context": c.context("microsoft.graph.stringKeyStringValuePair"),
		"key":            string(key), "value": string(value),
	})
}

func ternary(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// entitled reports whether a source user is in scope: assigned directly or
// through an assigned group.
func (s *Server) entitled(t *tenant, sp *servicePrincipal, userID string) bool {
	for _, a := range sp.assignments {
		if a.principalID == userID {
			return true
		}
		if g, ok := t.groups[a.principalID]; ok && a.principalType == "Group" {
			for _, m := range g.members {
				if m == userID {
					return true
				}
			}
		}
	}
	return false
}

// provisionUser creates the B2B member in the target tenant unless it exists
// and writes the provisioning record. It returns whether a user was created
// and, when provisioning failed, the error code and reason.
func (s *Server) provisionUser(source *tenant, sp *servicePrincipal, j *job, u *user) (bool, [2]string) {
	target := s.tenants[strings.ToLower(sp.secrets["CompanyId"])]
	if f, failing := source.failures[u.id]; failing {
		source.logs.add(s.newRecord(source, target, sp, j, u, "create", "failure", f[0], f[1], ""))
		return false, f
	}
	for _, tu := range target.users {
		if tu.externalTenant == source.id && tu.externalUser == u.id {
			if !tu.deleted {
				return false, [2]string{}
			}
			// Back in scope within 30 days: the soft-deleted user is restored.
			tu.deleted = false
			source.logs.add(s.newRecord(source, target, sp, j, u, "update", "success", "", "", tu.id))
			return true, [2]string{}
		}
	}
	nu := &user{id: newID(), displayName: u.displayName, upn: strings.ReplaceAll(u.upn, "@", "_") + "#EXT#@" + target.domain,
		userType: "Member", externalTenant: source.id, externalUser: u.id, created: s.now()}
	target.users[nu.id] = nu
	source.logs.add(s.newRecord(source, target, sp, j, u, "create", "success", "", "", nu.id))
	return true, [2]string{}
}
