// Package plan compares a desired-state file with the tenants and says what
// `ctsync apply` would change, setting by setting, and — before anything is
// written — which users would leave the synchronization scope, and so be
// soft-deleted in the target by the job's next cycle. It only reads.
package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/desired"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/steps"
	"github.com/ctsync/ctsync/pkg/store"
)

// Action is what apply does to a setting.
type Action string

const (
	Create Action = "create"
	Update Action = "update"
	Remove Action = "remove"
	// Unobservable settings cannot be read back from Graph (secrets).
	Unobservable Action = "not-observable"
	// Reported is drift a person may have made on purpose (a paused job, a
	// configuration app deleted outside ctsync, a quarantine): shown, and
	// left alone unless apply is told otherwise (--resume-jobs, --recreate).
	Reported Action = "reported"
)

// Change is one setting apply would write.
type Change struct {
	Tenant  string `json:"tenant"` // source or target
	Setting string `json:"setting"`
	Action  Action `json:"action"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
}

// User is a user named in the deletion preview.
type User struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// Pair is the plan of one pair of the file.
type Pair struct {
	Name            string   `json:"name"`
	SourceTenantID  string   `json:"sourceTenantId"`
	TargetTenantID  string   `json:"targetTenantId"`
	Changes         []Change `json:"changes"`
	InScopeNow      int      `json:"inScopeNow"`
	InScopeAfter    int      `json:"inScopeAfter"`
	Leaving         []User   `json:"leaving"`
	DeleteThreshold int      `json:"deleteThreshold"`
	// OverThreshold: the leaving users reach the threshold, so the job will
	// stop in quarantine (TooManyDeletes) until a person approves.
	OverThreshold bool     `json:"overThreshold"`
	Notes         []string `json:"notes,omitempty"`
	// Absent: the pair is to be offboarded (state: absent in the file, or
	// ctsync offboard); its changes are the teardown.
	Absent bool `json:"absent,omitempty"`
}

// Plan is the whole file's plan.
type Plan struct {
	Pairs []Pair `json:"pairs"`
	// NoLongerInFile are pairs an earlier apply managed that the file no
	// longer lists: nothing of them is deleted.
	NoLongerInFile []PairRef `json:"noLongerInFile,omitempty"`
}

// PairRef names a pair.
type PairRef struct {
	Name           string `json:"name"`
	SourceTenantID string `json:"sourceTenantId"`
	TargetTenantID string `json:"targetTenantId"`
}

// Pending reports whether apply would write anything.
func (p Plan) Pending() bool {
	for _, pp := range p.Pairs {
		if pp.Pending() {
			return true
		}
	}
	return false
}

// Pending reports whether apply would write anything for this pair.
func (p Pair) Pending() bool {
	for _, c := range p.Changes {
		if c.Action != Unobservable && c.Action != Reported {
			return true
		}
	}
	return false
}

// Removes reports whether applying removes anything: users leaving scope,
// assignments, or a pair offboarded.
func (p Plan) Removes() bool {
	for _, pp := range p.Pairs {
		if len(pp.Leaving) > 0 || pp.Absent && pp.Pending() {
			return true
		}
		for _, c := range pp.Changes {
			if c.Action == Remove {
				return true
			}
		}
	}
	return false
}

// SecretsDigest answers whether the secrets ctsync would save for a pair
// are the ones it saved last (compared through the digest it keeps, since
// Graph cannot read secrets back); known is false when it has no record.
type SecretsDigest func(ctx context.Context, in events.Onboarding) (same, known bool, err error)

// Planner reads the tenants through dirs.
type Planner struct {
	Dirs    entra.Directories
	Secrets SecretsDigest // nil: secrets are reported as not observable
	// Pairs reads the store's pair records: what the onboarding found
	// (offboarding puts it back) and which pairs an apply manages. nil: no
	// record of any pair.
	Pairs func(ctx context.Context) ([]store.Pair, error)
	// CreatedApp returns the configuration app ctsync recorded creating
	// (or adopting) for a pair, "" when none: a missing app ctsync had made
	// was deleted outside it. nil: no record.
	CreatedApp func(ctx context.Context, source, target string) (string, error)
	// ResumeJobs and Recreate are apply's --resume-jobs and --recreate:
	// a paused job is planned to be resumed, and a configuration app deleted
	// outside ctsync to be created again, instead of only reported.
	ResumeJobs, Recreate bool
	// SettingsOnly skips the deletion preview (reading every assigned user
	// and group member): the drift timer compares settings only.
	SettingsOnly bool
}

// planConcurrency bounds the pairs read at once.
const planConcurrency = 8

// Make plans every pair of the file.
func (pl Planner) Make(ctx context.Context, f *desired.File) (Plan, error) {
	out := Plan{Pairs: []Pair{}}
	records := map[string]store.Pair{}
	if pl.Pairs != nil {
		list, err := pl.Pairs(ctx)
		if err != nil {
			return Plan{}, err
		}
		for _, r := range list {
			records[pairKey(r.SourceTenantID, r.TargetTenantID)] = r
		}
	}
	all := f.All()
	inFile := map[string]bool{}
	for _, p := range all {
		inFile[pairKey(p.SourceTenant, p.TargetTenant)] = true
	}
	// Pairs are read a few at a time: a hub with a thousand spokes is a
	// thousand pairs, and each is a dozen reads.
	out.Pairs = make([]Pair, len(all))
	errs := make([]error, len(all))
	sem := make(chan struct{}, planConcurrency)
	var wg sync.WaitGroup
	for i, p := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if p.Absent() {
				out.Pairs[i], errs[i] = pl.Offboarding(ctx, Offboard{SourceTenantID: p.SourceTenant, TargetTenantID: p.TargetTenant, Name: p.Name,
					RemovePartners: p.RemovePartners, Found: records[pairKey(p.SourceTenant, p.TargetTenant)].Found})
			} else {
				out.Pairs[i], errs[i] = pl.pair(ctx, p)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return Plan{}, fmt.Errorf("pair %q (%s → %s): %w", all[i].Name, all[i].SourceTenant, all[i].TargetTenant, err)
		}
	}
	for _, key := range sortedKeys(records) {
		r := records[key]
		if inFile[key] || len(r.Desired) == 0 {
			continue
		}
		var d onboarding.Desired
		_ = json.Unmarshal(r.Desired, &d)
		out.NoLongerInFile = append(out.NoLongerInFile, PairRef{Name: d.ConfigurationName, SourceTenantID: r.SourceTenantID, TargetTenantID: r.TargetTenantID})
	}
	return out, nil
}

func pairKey(source, target string) string {
	return strings.ToLower(source) + "/" + strings.ToLower(target)
}

// Pair plans one pair that should be present: what apply would change,
// and what changed outside ctsync that apply leaves alone (Reported).
func (pl Planner) Pair(ctx context.Context, p desired.Pair) (Pair, error) { return pl.pair(ctx, p) }

func (pl Planner) pair(ctx context.Context, p desired.Pair) (Pair, error) {
	cfg := p.Configuration()
	src, dst := strings.ToLower(p.SourceTenant), strings.ToLower(p.TargetTenant)
	out := Pair{Name: p.Name, SourceTenantID: src, TargetTenantID: dst, Changes: []Change{}, Leaving: []User{}, DeleteThreshold: cfg.DeleteThreshold}
	add := func(tenant, setting string, a Action, from, to string) {
		out.Changes = append(out.Changes, Change{Tenant: tenant, Setting: setting, Action: a, From: from, To: to})
	}
	target, err := pl.Dirs.Tenant(ctx, dst)
	if err != nil {
		return out, err
	}
	source, err := pl.Dirs.Tenant(ctx, src)
	if err != nil {
		return out, err
	}

	// Target: partner configuration, identity synchronization, inbound auto-redeem.
	partner, err := target.GetPartner(ctx, src)
	switch {
	case fault.Is(err, fault.NotFound):
		add("target", "partner configuration for "+src, Create, "", "exists")
		add("target", "automaticUserConsentSettings.inboundAllowed", Create, "", "true")
	case err != nil:
		return out, err
	default:
		if partner.Inbound == nil || !*partner.Inbound {
			add("target", "automaticUserConsentSettings.inboundAllowed", Update, flag(partner.Inbound), "true")
		}
	}
	sync, err := target.GetIdentitySync(ctx, src)
	switch {
	case fault.Is(err, fault.NotFound):
		add("target", "identitySynchronization.userSyncInbound.isSyncAllowed", Create, "", "true")
	case err != nil:
		return out, err
	case !sync.SyncAllowed:
		add("target", "identitySynchronization.userSyncInbound.isSyncAllowed", Update, "false", "true")
	}

	// Source: partner configuration, outbound auto-redeem.
	spartner, err := source.GetPartner(ctx, dst)
	switch {
	case fault.Is(err, fault.NotFound):
		add("source", "partner configuration for "+dst, Create, "", "exists")
		add("source", "automaticUserConsentSettings.outboundAllowed", Create, "", "true")
	case err != nil:
		return out, err
	default:
		if spartner.Outbound == nil || !*spartner.Outbound {
			add("source", "automaticUserConsentSettings.outboundAllowed", Update, flag(spartner.Outbound), "true")
		}
	}

	// Source: the configuration app, its job, secrets, assignments, schema.
	wantPrincipals := map[string]bool{}
	for _, id := range append(slices.Clone(p.Users), p.Groups...) {
		wantPrincipals[strings.ToLower(id)] = true
	}
	sps, err := source.FindServicePrincipals(ctx, entra.CrossTenantSyncTemplateID, p.Name)
	if err != nil {
		return out, err
	}
	var spID string
	var job *entra.Job
	var schema *entra.Schema
	var current []entra.Assignment
	switch len(sps) {
	case 0:
		if pl.CreatedApp != nil {
			known, err := pl.CreatedApp(ctx, src, dst)
			if err != nil {
				return out, err
			}
			if known != "" && !pl.Recreate {
				// Deleted on purpose, perhaps: its job and settings went with it.
				add("source", "configuration app "+fmt.Sprintf("%q", p.Name), Reported, "deleted outside ctsync (it was "+known+")",
					"exists; apply --recreate creates a new one, with its job")
				return out, nil
			}
		}
		add("source", "configuration app "+fmt.Sprintf("%q", p.Name), Create, "", "from template "+entra.CrossTenantSyncTemplateID)
	case 1:
		spID = sps[0].ID
	default:
		return out, fmt.Errorf("the source tenant has %d configuration apps named %q; rename or delete the extra ones", len(sps), p.Name)
	}
	if spID != "" {
		jobs, err := source.ListJobs(ctx, spID)
		if err != nil {
			return out, err
		}
		for i := range jobs {
			if jobs[i].TemplateID == entra.SyncJobTemplateID {
				job = &jobs[i]
				break
			}
		}
		if current, err = source.ListAssignments(ctx, spID); err != nil {
			return out, err
		}
	}
	if job == nil {
		add("source", "synchronization job", Create, "", entra.SyncJobTemplateID)
	} else {
		if schema, err = source.GetSchema(ctx, spID, job.ID); err != nil {
			return out, err
		}
		switch {
		case job.ScheduleState == "Paused" && !pl.ResumeJobs:
			add("source", "synchronization job schedule", Reported, "Paused outside ctsync", "Active; apply --resume-jobs resumes it")
		case job.ScheduleState != "Active":
			add("source", "synchronization job schedule", Update, job.ScheduleState, "Active (started)")
		}
		switch {
		case job.Quarantine == nil:
		case steps.RestartsOutOfQuarantine(job.Quarantine.Reason):
			add("source", "synchronization job status", Update, "Quarantine ("+job.Quarantine.Reason+")",
				"restarted out of quarantine (resetScope QuarantineState) once the policies above are in place")
		default:
			add("source", "synchronization job status", Reported, "Quarantine ("+job.Quarantine.Reason+")",
				"not quarantined: "+steps.QuarantineRemedy(job.Quarantine.Reason))
		}
	}

	in := p.Onboarding("", "")
	in.ServicePrincipalID = spID
	secretsSame, secretsKnown := false, false
	if pl.Secrets != nil && spID != "" {
		if secretsSame, secretsKnown, err = pl.Secrets(ctx, in); err != nil {
			return out, err
		}
	}
	switch {
	case secretsKnown && secretsSame:
		out.Notes = append(out.Notes, "secrets (credentials, delete threshold) cannot be read back from Graph; the digest ctsync keeps of what it saved matches")
	case secretsKnown:
		add("source", "secrets (CompanyId, SyncNotificationSettings with deleteThreshold)", Update, "saved differently", fmt.Sprintf("deleteThreshold %d", cfg.DeleteThreshold))
	case spID == "" || job == nil:
		add("source", "secrets (CompanyId, SyncNotificationSettings with deleteThreshold)", Create, "", fmt.Sprintf("deleteThreshold %d", cfg.DeleteThreshold))
	default:
		add("source", "secrets", Unobservable, "", fmt.Sprintf("saved unless ctsync's digest shows them saved already (deleteThreshold %d)", cfg.DeleteThreshold))
	}

	// Assignments: the file is the whole truth.
	have := map[string]entra.Assignment{}
	for _, a := range current {
		have[strings.ToLower(a.PrincipalID)] = a
	}
	for _, id := range sortedKeys(wantPrincipals) {
		if _, ok := have[id]; !ok {
			add("source", "assignment "+kindOf(id, p.Groups)+" "+id, Create, "", "assigned")
		}
	}
	for _, id := range sortedKeys(have) {
		if !wantPrincipals[id] {
			add("source", "assignment "+strings.ToLower(have[id].PrincipalType)+" "+id, Remove, "assigned", "")
		}
	}

	// Schema: the filters and mappings the file asks for.
	var nowFilters []events.ScopingFilter
	if schema != nil {
		scope, err := schema.CurrentScope()
		if err != nil {
			return out, err
		}
		nowFilters = scope.Filters
		changes, err := schema.Clone().Apply(cfg)
		if err != nil {
			return out, err
		}
		for _, c := range changes {
			add("source", c.Setting, Update, c.From, c.To)
		}
	} else {
		if cfg.ScopingFilters != nil {
			add("source", "scopingFilters", Create, "", entra.DescribeFilters(*cfg.ScopingFilters))
		}
		for _, m := range cfg.AttributeMappings {
			add("source", "attributeMapping "+m.Target, Create, "", mappingText(m))
		}
	}

	if pl.SettingsOnly {
		return out, nil
	}
	// Deletion preview: who is in scope now, who will be.
	afterFilters := nowFilters
	if cfg.ScopingFilters != nil {
		afterFilters = *cfg.ScopingFilters
	}
	nowAssigned := map[string]string{} // principal id → type
	for id, a := range have {
		nowAssigned[id] = a.PrincipalType
	}
	afterAssigned := map[string]string{}
	for _, id := range p.Users {
		afterAssigned[strings.ToLower(id)] = "User"
	}
	for _, id := range p.Groups {
		afterAssigned[strings.ToLower(id)] = "Group"
	}
	reader := &userReader{dir: source, props: attributesOf(nowFilters, afterFilters), users: map[string]entra.User{}, members: map[string][]string{}}
	nowScope, err := reader.inScope(ctx, nowAssigned, nowFilters)
	if err != nil {
		return out, err
	}
	afterScope, err := reader.inScope(ctx, afterAssigned, afterFilters)
	if err != nil {
		return out, err
	}
	out.InScopeNow, out.InScopeAfter = len(nowScope), len(afterScope)
	if job == nil {
		out.InScopeNow = 0 // nothing synchronizes yet, so nobody can leave
		nowScope = map[string]bool{}
	}
	for _, id := range sortedKeys(nowScope) {
		if !afterScope[id] {
			out.Leaving = append(out.Leaving, User{ID: id, DisplayName: reader.users[id].DisplayName})
		}
	}
	out.OverThreshold = len(out.Leaving) >= cfg.DeleteThreshold
	return out, nil
}

func flag(b *bool) string {
	if b == nil {
		return "unset"
	}
	return fmt.Sprint(*b)
}

func kindOf(id string, groups []string) string {
	for _, g := range groups {
		if strings.EqualFold(g, id) {
			return "group"
		}
	}
	return "user"
}

func mappingText(m events.AttributeMapping) string {
	when := "always"
	if m.Apply == "onCreate" {
		when = "on create"
	}
	if m.Constant != nil {
		return fmt.Sprintf("constant %q (%s)", *m.Constant, when)
	}
	return fmt.Sprintf("%s (%s)", m.Source, when)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// userReader reads each user and each group's members once, with the
// attributes the filters name: today's scope and the file's overlap.
type userReader struct {
	dir     entra.Directory
	props   []string
	users   map[string]entra.User
	members map[string][]string // group id → member user ids
}

// inScope is CTS's scope: assigned directly or a direct member of an
// assigned group, an internal member, and passing the scoping filters.
func (r *userReader) inScope(ctx context.Context, assigned map[string]string, filters []events.ScopingFilter) (map[string]bool, error) {
	candidates := map[string]bool{}
	for _, id := range sortedKeys(assigned) {
		if strings.EqualFold(assigned[id], "Group") {
			if err := r.readMembers(ctx, id); err != nil {
				return nil, err
			}
			for _, mid := range r.members[id] {
				candidates[mid] = true
			}
			continue
		}
		if _, ok := r.users[id]; !ok {
			u, err := r.dir.GetUser(ctx, id, r.props)
			if fault.Is(err, fault.NotFound) {
				continue // a deleted user leaves scope anyway
			}
			if err != nil {
				return nil, err
			}
			r.users[id] = u
		}
		candidates[id] = true
	}
	out := map[string]bool{}
	for id := range candidates {
		u := r.users[id]
		if u.UserType != "" && !strings.EqualFold(u.UserType, "Member") {
			continue // CTS synchronizes internal members only
		}
		if Passes(u, filters) {
			out[id] = true
		}
	}
	return out, nil
}

// readMembers reads a group's direct members once; a group that no longer
// exists has none.
func (r *userReader) readMembers(ctx context.Context, groupID string) error {
	if _, done := r.members[groupID]; done {
		return nil
	}
	members, err := r.dir.ListGroupMembers(ctx, groupID, r.props)
	if err != nil && !fault.Is(err, fault.NotFound) {
		return err
	}
	ids := []string{}
	for _, m := range members {
		mid := strings.ToLower(m.ID)
		r.users[mid] = m
		ids = append(ids, mid)
	}
	r.members[groupID] = ids
	return nil
}

func attributesOf(sets ...[]events.ScopingFilter) []string {
	seen := map[string]bool{}
	var out []string
	for _, fs := range sets {
		for _, f := range fs {
			for _, c := range f.Clauses {
				if !seen[c.Attribute] {
					seen[c.Attribute] = true
					out = append(out, c.Attribute)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// ErrRemovalsNeedConsent is returned by apply when the plan removes
// something and nobody agreed.
var ErrRemovalsNeedConsent = errors.New("the plan removes users or assignments")
