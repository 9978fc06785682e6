package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// record is one provisioningObjectSummary. Records are kept as fields, not
// JSON, and rendered per request.
type record struct {
	id                         string
	activity, availableAt      time.Time
	tenantID                   string
	jobID, cycleID, changeID   string
	action, status             string
	spID, spName, appID        string
	sourceID, sourceName       string
	targetID, targetName       string
	errCode, errReason         string
	durationMs                 int
	targetTenant, targetDomain string
}

// segment is a run of synthetic records computed on demand, so a benchmark
// can page through a million records without the emulator holding them.
type segment struct {
	tenantID, spID, spName, jobID string
	start                         time.Time
	spacing                       time.Duration
	n, failEvery                  int
	prefix                        string
}

func (g *segment) at(i int) *record {
	r := &record{
		id: fmt.Sprintf("%s_%010d", g.prefix, i), activity: g.start.Add(time.Duration(i) * g.spacing), tenantID: g.tenantID,
		jobID: g.jobID, cycleID: g.prefix + "_cycle", changeID: fmt.Sprintf("%s_change_%d", g.prefix, i), action: "create", status: "success",
		spID: g.spID, spName: g.spName, sourceID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i%1000000000000),
		sourceName: fmt.Sprintf("Synthetic User %d", i), targetName: fmt.Sprintf("Synthetic User %d", i), durationMs: 900 + i%400,
	}
	r.availableAt = r.activity
	if g.failEvery > 0 && i%g.failEvery == 0 {
		r.status, r.errCode, r.errReason = "failure", "AzureActiveDirectoryForbidden", "The target tenant's guest invite settings block the invitation."
	}
	return r
}

// provisioningLog holds a tenant's records sorted by (activity, id), plus
// synthetic segments.
type provisioningLog struct {
	records  []*record
	segments []*segment
}

func recordLess(a, b *record) bool {
	if !a.activity.Equal(b.activity) {
		return a.activity.Before(b.activity)
	}
	return a.id < b.id
}

func (l *provisioningLog) add(r *record) {
	i := sort.Search(len(l.records), func(i int) bool { return recordLess(r, l.records[i]) })
	l.records = append(l.records, nil)
	copy(l.records[i+1:], l.records[i:])
	l.records[i] = r
}

func (l *provisioningLog) last() *record {
	var newest *record
	for _, r := range l.records {
		if newest == nil || r.availableAt.After(newest.availableAt) {
			newest = r
		}
	}
	return newest
}

func (s *Server) newRecord(source, target *tenant, sp *servicePrincipal, j *job, u *user, action, status, errCode, reason, targetID string) *record {
	now := s.now()
	r := &record{id: "Azure2Azure_" + newID() + "_" + strconv.Itoa(len(source.logs.records)), activity: now, availableAt: now, tenantID: source.id,
		jobID: j.id, cycleID: newID(), changeID: newID(), action: action, status: status, spID: sp.id, spName: sp.displayName, appID: sp.appID,
		sourceID: u.id, sourceName: u.displayName, targetID: targetID, targetName: u.displayName, errCode: errCode, errReason: reason,
		durationMs: 1200}
	if target != nil {
		r.targetTenant, r.targetDomain = target.id, target.domain
	}
	return r
}

// The provisioningObjectSummary shape, as typed structs: the emulator
// renders a million of these for benchmarks.
type (
	recordJSON struct {
		ID                     string          `json:"id"`
		ActivityDateTime       string          `json:"activityDateTime"`
		TenantID               string          `json:"tenantId"`
		JobID                  string          `json:"jobId"`
		CycleID                string          `json:"cycleId"`
		ChangeID               string          `json:"changeId"`
		ProvisioningAction     string          `json:"provisioningAction"`
		Action                 string          `json:"action,omitempty"`
		DurationInMilliseconds int             `json:"durationInMilliseconds"`
		InitiatedBy            initiatorJSON   `json:"initiatedBy"`
		ServicePrincipal       idNameJSON      `json:"servicePrincipal"`
		SourceSystem           systemJSON      `json:"sourceSystem"`
		TargetSystem           systemJSON      `json:"targetSystem"`
		SourceIdentity         identityJSON    `json:"sourceIdentity"`
		TargetIdentity         identityJSON    `json:"targetIdentity"`
		ModifiedProperties     []modifiedJSON  `json:"modifiedProperties"`
		ProvisioningSteps      []stepJSON      `json:"provisioningSteps"`
		ProvisioningStatusInfo statusJSON      `json:"provisioningStatusInfo"`
		StatusInfo             json.RawMessage `json:"statusInfo,omitempty"`
	}
	initiatorJSON struct {
		ID            string `json:"id"`
		DisplayName   string `json:"displayName"`
		InitiatorType string `json:"initiatorType"`
	}
	idNameJSON struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	}
	systemJSON struct {
		ID          string            `json:"id"`
		DisplayName string            `json:"displayName"`
		Details     map[string]string `json:"details"`
	}
	identityJSON struct {
		ID           string            `json:"id"`
		DisplayName  string            `json:"displayName"`
		IdentityType string            `json:"identityType"`
		Details      map[string]string `json:"details"`
	}
	modifiedJSON struct {
		DisplayName string  `json:"displayName"`
		OldValue    *string `json:"oldValue"`
		NewValue    string  `json:"newValue"`
	}
	stepJSON struct {
		Name                 string            `json:"name"`
		ProvisioningStepType string            `json:"provisioningStepType"`
		Status               string            `json:"status"`
		Description          string            `json:"description"`
		Details              map[string]string `json:"details"`
	}
	statusJSON struct {
		Status           string     `json:"status"`
		ErrorInformation *errorJSON `json:"errorInformation"`
	}
	errorJSON struct {
		ErrorCode         string  `json:"errorCode"`
		Reason            string  `json:"reason"`
		AdditionalDetails *string `json:"additionalDetails"`
		ErrorCategory     string  `json:"errorCategory"`
		RecommendedAction string  `json:"recommendedAction"`
	}
)

var (
	emptyDetails   = map[string]string{}
	scopingDetails = map[string]string{"Active in the source system": "True", "Assigned to the application": "True", "appRoleAssignments": "msiam_access"}
	actionNames    = map[string]string{"create": "Create", "update": "Update", "delete": "Delete", "disable": "Disable"}
)

func (r *record) json(beta bool) recordJSON {
	out := recordJSON{
		ID: r.id, ActivityDateTime: r.activity.UTC().Format(time.RFC3339Nano), TenantID: r.tenantID, JobID: r.jobID,
		CycleID: r.cycleID, ChangeID: r.changeID, ProvisioningAction: r.action, DurationInMilliseconds: r.durationMs,
		InitiatedBy:      initiatorJSON{DisplayName: "Azure AD Provisioning Service", InitiatorType: "system"},
		ServicePrincipal: idNameJSON{ID: r.spID, DisplayName: r.spName},
		SourceSystem:     systemJSON{ID: r.tenantID, DisplayName: "Azure Active Directory", Details: emptyDetails},
		TargetSystem: systemJSON{ID: r.targetTenant, DisplayName: "Azure Active Directory (target tenant)",
			Details: map[string]string{"ApplicationId": r.appID, "ServicePrincipalId": r.spID, "ServicePrincipalDisplayName": r.spName}},
		SourceIdentity:     identityJSON{ID: r.sourceID, DisplayName: r.sourceName, IdentityType: "User", Details: emptyDetails},
		TargetIdentity:     identityJSON{ID: r.targetID, DisplayName: r.targetName, IdentityType: "User", Details: emptyDetails},
		ModifiedProperties: []modifiedJSON{{DisplayName: "displayName", NewValue: r.sourceName}},
		ProvisioningSteps: []stepJSON{
			{Name: "EntryImport", ProvisioningStepType: "import", Status: "success", Description: "Retrieved " + r.sourceName + " from Azure Active Directory", Details: emptyDetails},
			{Name: "EntrySynchronizationScoping", ProvisioningStepType: "scoping", Status: "success", Description: "Determine if User in scope by evaluating against each scoping filter", Details: scopingDetails},
			{Name: "EntryExportAdd", ProvisioningStepType: "export", Status: r.status, Description: "User '" + r.sourceName + "' was created in Azure Active Directory (target tenant)", Details: emptyDetails},
		},
		ProvisioningStatusInfo: statusJSON{Status: r.status},
	}
	if r.status == "failure" {
		out.ProvisioningStatusInfo.ErrorInformation = &errorJSON{ErrorCode: r.errCode, Reason: r.errReason, ErrorCategory: "failure",
			RecommendedAction: "Check the target tenant's cross-tenant access and guest settings, then retry the user with provision on demand."}
	}
	if beta {
		out.Action = actionNames[r.action]
		out.StatusInfo = json.RawMessage("null")
	}
	return out
}

var provisioningFilter = func() filterRules {
	rules := filterRules{
		"activityDateTime":       {"eq", "gt", "lt"},
		"durationInMilliseconds": {"eq", "gt", "lt"},
		// Documented as eq only; the article itself filters with
		// contains(tolower(servicePrincipal/id), …), so both are accepted.
		"servicePrincipal/id":          {"eq", "contains"},
		"servicePrincipal/displayName": {"eq", "contains"},
	}
	for _, p := range []string{"id", "tenantId", "tenantid", "jobId", "jobid", "changeId", "changeid", "cycleId", "cycleid", "provisioningAction",
		"provisioningStatusInfo/status", "sourceSystem/displayName", "targetSystem/displayName", "sourceIdentity/identityType",
		"sourceIdentity/id", "sourceIdentity/displayName", "targetIdentity/identityType", "targetIdentity/id",
		"targetIdentity/displayName", "initiatedBy/displayName"} {
		rules[p] = []string{"eq", "contains"}
	}
	return rules
}()

var provisioningBetaFilter = func() filterRules {
	rules := filterRules{"action": {"eq"}, "statusInfo/status": {"eq"}, "servicePrincipal/name": {"eq"}}
	for k, v := range provisioningFilter {
		rules[k] = v
	}
	return rules
}()

func (r *record) field(prop string) any {
	switch prop {
	case "id":
		return r.id
	case "activityDateTime":
		return r.activity
	case "durationInMilliseconds":
		return float64(r.durationMs)
	case "tenantId", "tenantid":
		return r.tenantID
	case "jobId", "jobid":
		return r.jobID
	case "changeId", "changeid":
		return r.changeID
	case "cycleId", "cycleid":
		return r.cycleID
	case "provisioningAction":
		return r.action
	case "provisioningStatusInfo/status", "statusInfo/status":
		return r.status
	case "servicePrincipal/id":
		return r.spID
	case "servicePrincipal/displayName", "servicePrincipal/name":
		return r.spName
	case "sourceSystem/displayName":
		return "Azure Active Directory"
	case "targetSystem/displayName":
		return "Azure Active Directory (target tenant)"
	case "sourceIdentity/identityType", "targetIdentity/identityType":
		return "User"
	case "sourceIdentity/id":
		return r.sourceID
	case "sourceIdentity/displayName":
		return r.sourceName
	case "targetIdentity/id":
		return r.targetID
	case "targetIdentity/displayName":
		return r.targetName
	case "initiatedBy/displayName":
		return "Azure AD Provisioning Service"
	case "action":
		return actionNames[r.action]
	}
	return nil
}

// pageCursor is the $skiptoken: where the previous page ended.
type pageCursor struct {
	Time int64  `json:"t"`
	ID   string `json:"i"`
}

const maxProvisioningTop = 1000

// listProvisioning serves GET /auditLogs/provisioning with $filter, $orderby
// (activityDateTime only), $top and keyset paging through @odata.nextLink,
// throttled per app per tenant like every reports API.
func (s *Server) listProvisioning(c *call) {
	if !c.throttle("Reports", s.opts.ReportsPerWindow, s.opts.ReportsWindow) {
		return
	}
	q := c.r.URL.Query()
	rules := provisioningFilter
	if c.version == "beta" {
		rules = provisioningBetaFilter
	}
	var filter filterExpr
	if f := q.Get("$filter"); f != "" {
		var err error
		if filter, err = parseFilter(f, rules); err != nil {
			c.badRequest("BadRequest", "Invalid filter clause: "+err.Error())
			return
		}
	}
	desc := true // newest first unless asked otherwise
	if ob := strings.TrimSpace(q.Get("$orderby")); ob != "" {
		field, dir, _ := strings.Cut(ob, " ")
		if field != "activityDateTime" {
			c.badRequest("BadRequest", "OrderBy not supported for property '"+field+"'. Only activityDateTime can be used.")
			return
		}
		switch strings.TrimSpace(dir) {
		case "", "asc":
			desc = false
		case "desc":
		default:
			c.badRequest("BadRequest", "Invalid $orderby direction '"+dir+"'.")
			return
		}
	}
	top, paged := maxProvisioningTop, false
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > maxProvisioningTop {
			c.badRequest("BadRequest", fmt.Sprintf("Invalid value '%s' for $top. It must be between 1 and %d.", t, maxProvisioningTop))
			return
		}
		top, paged = n, true
	}
	var cursor *pageCursor
	if tok := q.Get("$skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		cursor = &pageCursor{}
		if err != nil || json.Unmarshal(raw, cursor) != nil {
			c.badRequest("BadRequest", "The $skiptoken is invalid or expired.")
			return
		}
	}
	page := c.tenant.logs.page(filter, desc, cursor, top+1, s.now())
	more := len(page) > top
	if more {
		page = page[:top]
	}
	value := make([]recordJSON, 0, len(page))
	for _, r := range page {
		value = append(value, r.json(c.version == "beta"))
	}
	out := map[string]any{"@odata.context": c.context("auditLogs/provisioning"), "value": value}
	if more && paged {
		lastRec := page[len(page)-1]
		tok, _ := json.Marshal(pageCursor{Time: lastRec.activity.UnixNano(), ID: lastRec.id})
		next := url.Values{}
		for k, v := range q {
			if k != "$skiptoken" {
				next[k] = v
			}
		}
		next.Set("$skiptoken", base64.RawURLEncoding.EncodeToString(tok))
		out["@odata.nextLink"] = s.URL + "/" + c.version + "/auditLogs/provisioning?" + next.Encode()
	}
	c.writeJSON(http.StatusOK, out)
}

// page returns up to limit visible records matching filter after cursor, in
// order. It merges the stored records and the synthetic segments, starting
// each at the cursor (or at the filter's activityDateTime lower bound) by
// binary search, so deep pages cost what shallow ones do.
func (l *provisioningLog) page(filter filterExpr, desc bool, cursor *pageCursor, limit int, now time.Time) []*record {
	eqSP, lower := constraints(filter)
	after := func(r *record) bool { // r comes after the cursor in this order
		if cursor == nil {
			return true
		}
		ct := time.Unix(0, cursor.Time).UTC()
		if !r.activity.Equal(ct) {
			return r.activity.After(ct) != desc
		}
		return (r.id > cursor.ID) != desc
	}
	// Each source (the stored records, each synthetic segment) is indexed in
	// ascending (activity, id) order; a stream walks one from the cursor.
	var streams []func() *record
	walk := func(n int, at func(int) *record) {
		i := 0
		if !desc {
			i = sort.Search(n, func(i int) bool { r := at(i); return after(r) && (lower.IsZero() || r.activity.After(lower)) })
		} else {
			i = sort.Search(n, func(i int) bool { return !after(at(i)) }) - 1
		}
		streams = append(streams, func() *record {
			if i < 0 || i >= n {
				return nil
			}
			r := at(i)
			if desc {
				i--
			} else {
				i++
			}
			if desc && !lower.IsZero() && !r.activity.After(lower) {
				i = -1
				return nil
			}
			return r
		})
	}
	walk(len(l.records), func(i int) *record { return l.records[i] })
	for _, g := range l.segments {
		if eqSP == "" || g.spID == eqSP {
			walk(g.n, g.at)
		}
	}

	heads := make([]*record, len(streams))
	advance := func(k int) {
		for {
			r := streams[k]()
			if r == nil || !r.availableAt.After(now) {
				heads[k] = r
				return
			}
		}
	}
	for k := range streams {
		advance(k)
	}
	var out []*record
	for len(out) < limit {
		best := -1
		for k, h := range heads {
			if h == nil {
				continue
			}
			if best < 0 || (recordLess(h, heads[best]) != desc) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		r := heads[best]
		advance(best)
		if filter == nil || truthy(filter.eval(r.field)) {
			out = append(out, r)
		}
	}
	return out
}

// constraints pulls from a filter's top-level "and" chain a service
// principal equality and the tightest activityDateTime lower bound, so
// pages can skip what cannot match. The full filter is still applied.
func constraints(e filterExpr) (spID string, lower time.Time) {
	var walk func(filterExpr)
	walk = func(e filterExpr) {
		b, ok := e.(binaryExpr)
		if !ok {
			return
		}
		switch b.op {
		case "and":
			walk(b.left)
			walk(b.right)
		case "eq", "gt":
			p, isProp := b.left.(propExpr)
			lit, isLit := b.right.(literalExpr)
			if !isProp || !isLit {
				return
			}
			if p.path == "servicePrincipal/id" && b.op == "eq" {
				spID, _ = lit.v.(string)
			}
			if t, ok := lit.v.(time.Time); ok && p.path == "activityDateTime" && b.op == "gt" && t.After(lower) {
				lower = t
			}
		}
	}
	walk(e)
	return spID, lower
}

// ProvisioningRecord describes a record to add by hand (late arrivals, failures).
type ProvisioningRecord struct {
	ID                 string
	ActivityDateTime   time.Time
	AvailableAt        time.Time // when it shows up in the API; default ActivityDateTime
	ServicePrincipalID string
	JobID              string
	Action             string // default "create"
	Status             string // default "success"
	SourceUserID       string
	ErrorCode, Reason  string
}

// AddProvisioningRecords adds records to a source tenant's log.
func (s *Server) AddProvisioningRecords(tenantID string, recs ...ProvisioningRecord) {
	s.withTenant(tenantID, func(t *tenant) {
		for _, pr := range recs {
			r := &record{id: pr.ID, activity: pr.ActivityDateTime.UTC(), availableAt: pr.AvailableAt.UTC(), tenantID: t.id,
				jobID: pr.JobID, cycleID: newID(), changeID: newID(), action: pr.Action, status: pr.Status, spID: strings.ToLower(pr.ServicePrincipalID),
				sourceID: pr.SourceUserID, sourceName: "User " + pr.SourceUserID, targetName: "User " + pr.SourceUserID,
				errCode: pr.ErrorCode, errReason: pr.Reason, durationMs: 1000}
			if r.id == "" {
				r.id = "Azure2Azure_" + newID()
			}
			if pr.AvailableAt.IsZero() {
				r.availableAt = r.activity
			}
			if r.action == "" {
				r.action = "create"
			}
			if r.status == "" {
				r.status = "success"
			}
			if sp, ok := t.sps[r.spID]; ok {
				r.spName, r.appID = sp.displayName, sp.appID
			}
			t.logs.add(r)
		}
	})
}

// GenerateProvisioningRecords adds n synthetic records for a service
// principal, spaced evenly from start, every failEvery-th one a failure (0:
// none). They cost no memory per record.
func (s *Server) GenerateProvisioningRecords(tenantID, spID, jobID string, n int, start time.Time, spacing time.Duration, failEvery int) {
	s.withTenant(tenantID, func(t *tenant) {
		t.logs.segments = append(t.logs.segments, &segment{tenantID: t.id, spID: strings.ToLower(spID), spName: "Synthetic configuration",
			jobID: jobID, start: start.UTC(), spacing: spacing, n: n, failEvery: failEvery, prefix: fmt.Sprintf("Synthetic%d_%s", len(t.logs.segments), strings.ReplaceAll(newID(), "-", "")[:8])})
	})
}

// FailProvisioning makes every later attempt to provision a source user fail
// with errorCode and reason, in cycles and on demand.
func (s *Server) FailProvisioning(sourceTenantID, userID, errorCode, reason string) {
	s.withTenant(sourceTenantID, func(t *tenant) { t.failures[strings.ToLower(userID)] = [2]string{errorCode, reason} })
}

// QuarantineJobs puts every started job of the tenant into quarantine, as
// Entra does after repeated failures or bad credentials.
func (s *Server) QuarantineJobs(sourceTenantID, reason, errorCode, message string) {
	s.withTenant(sourceTenantID, func(t *tenant) {
		for _, sp := range t.sps {
			for _, j := range sp.jobs {
				s.quarantineJob(j, reason, errorCode, message)
			}
		}
	})
}

func (s *Server) quarantineJob(j *job, reason, code, message string) {
	now := s.now()
	if j.quarantine == nil {
		j.quarantine = &quarantine{seriesBegan: now}
	}
	j.quarantine.reason, j.quarantine.errCode, j.quarantine.errMessage = reason, code, message
	j.quarantine.began = now
	j.quarantine.seriesCount++
	j.quarantine.next = now.Add(6 * time.Hour)
	j.statusCode = "Quarantine"
	j.successiveFailures++
	j.lastExecution = &execution{state: "Failed", began: now, ended: now, errCode: code, errMessage: message}
}

// PauseCycles stops every job's synchronization cycles until ResumeCycles,
// so the provisioning logs stop growing (tests compare what was collected
// with what there is).
func (s *Server) PauseCycles() { s.mu.Lock(); s.cyclesPaused = true; s.mu.Unlock() }

// ResumeCycles lets jobs run their cycles again.
func (s *Server) ResumeCycles() { s.mu.Lock(); s.cyclesPaused = false; s.mu.Unlock() }

// runJobs runs synchronization cycles for started jobs.
func (s *Server) runJobs() {
	defer s.jobsDone.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stopJobs:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		if s.cyclesPaused {
			s.mu.Unlock()
			continue
		}
		now := s.now()
		for _, t := range s.tenants {
			for _, sp := range t.sps {
				for _, j := range sp.jobs {
					if j.scheduleState == "Active" && !j.nextCycle.IsZero() && !now.Before(j.nextCycle) {
						s.runCycle(t, sp, j)
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

// runCycle is one synchronization cycle: check the policies, then provision
// every entitled user who is not in the target yet.
func (s *Server) runCycle(source *tenant, sp *servicePrincipal, j *job) {
	now := s.now()
	j.nextCycle = now.Add(s.opts.CycleInterval)
	if j.quarantine != nil {
		return // retried on its own (much slower) schedule; start or restart clears it
	}
	code, msg := "", ""
	if sp.secrets["CompanyId"] == "" {
		code, msg = "AzureDirectoryB2BManagementPolicyCheckFailure", "The job's credentials are not saved."
	} else {
		code, msg = s.policyProblem(source, sp.secrets["CompanyId"])
	}
	if code != "" {
		s.quarantineJob(j, "EncounteredQuarantineException", code, msg)
		return
	}
	exec := &execution{state: "Succeeded", began: now}
	seen := map[string]bool{}
	var entitled []*user
	om := userMapping(j.schema)
	for _, a := range sp.assignments {
		ids := []string{a.principalID}
		if g, ok := source.groups[a.principalID]; ok && a.principalType == "Group" {
			ids = g.members // direct members only: nested groups do not cascade
		}
		for _, id := range ids {
			if u, ok := source.users[id]; ok && !seen[id] && !u.deleted && u.userType == "Member" && u.passes(om) {
				seen[id] = true
				entitled = append(entitled, u)
			}
		}
	}
	sort.Slice(entitled, func(a, b int) bool { return entitled[a].id < entitled[b].id })
	if !s.deleteLeavers(source, sp, j, seen, exec) {
		return
	}
	for _, u := range entitled {
		created, failure := s.provisionUser(source, sp, j, u)
		switch {
		case failure[0] != "":
			exec.escrowed++
		case created:
			exec.exported++
		}
	}
	exec.imported, exec.total = len(entitled), len(entitled)
	exec.ended = now
	if exec.escrowed > 0 {
		exec.state = "EntryLevelErrors"
	}
	j.cycles++
	j.lastExecution, j.lastSuccess = exec, exec
	j.statusCode = "Active"
	j.successiveFailures = 0
	if j.steadyFirst.IsZero() {
		j.steadyFirst = now
	}
	j.steadyLast = now
}

// ProvisioningRecordIDs lists the ids of the provisioning records a tenant
// holds for service principal spID (synthetic volumes excluded), for tests
// that compare what was collected with what there is.
func (s *Server) ProvisioningRecordIDs(tenantID, spID string) []string {
	var ids []string
	s.withTenant(tenantID, func(t *tenant) {
		for _, r := range t.logs.records {
			if strings.EqualFold(r.spID, spID) {
				ids = append(ids, r.id)
			}
		}
	})
	return ids
}

// deleteLeavers soft-deletes the target users this job synchronized whose
// source user left the scope (unassigned, out of an assigned group, failing
// the scoping filter, deleted). When they reach the job's delete threshold
// the cycle deletes nobody and the job is quarantined (TooManyDeletes)
// until a restart with ForceDeletes approves them. It reports whether the
// cycle may go on.
func (s *Server) deleteLeavers(source *tenant, sp *servicePrincipal, j *job, inScope map[string]bool, exec *execution) bool {
	target := s.tenants[strings.ToLower(sp.secrets["CompanyId"])]
	if target == nil {
		return true
	}
	var leavers []*user
	for _, tu := range target.users {
		if tu.externalTenant == source.id && !tu.deleted && !inScope[tu.externalUser] {
			leavers = append(leavers, tu)
		}
	}
	sort.Slice(leavers, func(a, b int) bool { return leavers[a].id < leavers[b].id })
	if limit := deleteThreshold(sp); limit > 0 && len(leavers) >= limit && !j.forceDeletes {
		s.quarantineJob(j, "TooManyDeletes", "TooManyDeletes",
			fmt.Sprintf("The synchronization cycle would delete %d users, at or over the accidental deletion threshold of %d. Review them and restart the job with ForceDeletes to approve.", len(leavers), limit))
		for _, tu := range leavers {
			if su, ok := source.users[tu.externalUser]; ok {
				source.logs.add(s.newRecord(source, target, sp, j, su, "StagedDelete", "skipped", "TooManyDeletes", "held by the accidental deletion threshold", tu.id))
			}
		}
		return false
	}
	j.forceDeletes = false
	for _, tu := range leavers {
		tu.deleted = true
		exec.exported++
		su, ok := source.users[tu.externalUser]
		if !ok {
			su = &user{id: tu.externalUser, displayName: tu.displayName, upn: tu.upn}
		}
		source.logs.add(s.newRecord(source, target, sp, j, su, "delete", "success", "", "", tu.id))
	}
	return true
}
