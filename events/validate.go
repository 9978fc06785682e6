package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ValidationError says which field of an event is wrong and why.
type ValidationError struct {
	Field   string
	Problem string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid event: %s: %s", e.Field, e.Problem)
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

type fieldKind int

const (
	kindGUID fieldKind = iota
	kindGUIDList
	kindText
	kindWord
	kindJobID
	kindCount
	kindTimestamp
	kindEnum
	kindConfiguration
	kindBool
)

// field is one data field's rule. Validation and schema generation both read
// these, so the JSON Schemas say exactly what Parse enforces.
type field struct {
	kind     fieldKind
	doc      string
	minItems int
	maxLen   int // characters for text, items for lists
	enum     []string
}

const maxUsersPerOnboarding = 1000

var fields = map[string]field{
	"onboardingId":       {kind: kindGUID, doc: "Correlation id of the onboarding; every event of one onboarding carries it."},
	"offboardingId":      {kind: kindGUID, doc: "Correlation id of the offboarding; every event of one offboarding carries it."},
	"resumeJobs":         {kind: kindBool, doc: "Resume a job someone paused (apply --resume-jobs); without it a paused job is reported and left paused."},
	"recreate":           {kind: kindBool, doc: "Create the configuration app again when someone deleted it (apply --recreate); without it the deletion is reported and the onboarding stops."},
	"removePartners":     {kind: kindBool, doc: "Also delete the partner configurations ctsync created, and put back those it found (the automatic redemption flags it turned on)."},
	"sourceTenantId":     {kind: kindGUID, doc: "Tenant whose users are synchronized (the configuration app lives here)."},
	"targetTenantId":     {kind: kindGUID, doc: "Tenant that receives the users as B2B members."},
	"configurationName":  {kind: kindText, maxLen: 256, doc: "Display name of the configuration application and of the target's sync policy."},
	"users":              {kind: kindGUIDList, minItems: 1, maxLen: maxUsersPerOnboarding, doc: "Object ids of source-tenant users to assign; the first one is provisioned on demand."},
	"groups":             {kind: kindGUIDList, maxLen: maxUsersPerOnboarding, doc: "Object ids of source-tenant groups to assign."},
	"requestedBy":        {kind: kindText, maxLen: 256, doc: "Who asked: a ticket number, a pipeline, a person."},
	"configuration":      {kind: kindConfiguration, doc: "The pair's desired configuration from a desired-state file (ctsync apply): scoping filters, attribute mappings, delete threshold, exact assignments. Absent: assignments are added and the schema is left alone."},
	"servicePrincipalId": {kind: kindGUID, doc: "Object id of the configuration application's service principal in the source tenant."},
	"appId":              {kind: kindGUID, doc: "Application (client) id of the configuration application."},
	"appRoleId":          {kind: kindGUID, doc: "Id of the configuration application's msiam_access app role."},
	"jobId":              {kind: kindJobID, doc: "Id of the Azure2Azure synchronization job (Azure2Azure.<hex>.<guid>)."},
	"statusCode":         {kind: kindWord, doc: "synchronizationStatus.code: NotConfigured, NotRun, Active, Paused or Quarantine."},
	"scheduleState":      {kind: kindWord, doc: "synchronizationSchedule.state: Active, Disabled or Paused."},
	"lastExecutionState": {kind: kindWord, doc: "lastExecution.state: Succeeded, Failed or EntryLevelErrors."},
	"lastExecutionError": {kind: kindText, maxLen: 4000, doc: "lastExecution.error code and message, when there was one."},
	"steadyStateSince":   {kind: kindTimestamp, doc: "steadyStateFirstAchievedTime, when reached."},
	"exported":           {kind: kindCount, doc: "Objects exported to the target in the last execution."},
	"escrowed":           {kind: kindCount, doc: "Objects escrowed (failed, to be retried) in the last execution."},
	"check":              {kind: kindCount, doc: "How many times the monitor has read the job for this onboarding."},
	"quarantineReason":   {kind: kindWord, doc: "status.quarantine.reason, e.g. EncounteredQuarantineException."},
	"quarantineSince":    {kind: kindTimestamp, doc: "status.quarantine.currentBegan."},
	"nextAttempt":        {kind: kindTimestamp, doc: "status.quarantine.nextAttempt."},
	"remedy":             {kind: kindText, maxLen: 4000, doc: "What a person should do."},
	"heldDeletions":      {kind: kindText, maxLen: 4000, doc: "TooManyDeletes: the users whose deletion the threshold holds, by display name and id, from the provisioning logs' StagedDelete records."},
	"heldDeletionCount":  {kind: kindCount, doc: "TooManyDeletes: how many users the threshold holds (those the logs name)."},
	"setting":            {kind: kindText, maxLen: 256, doc: "The drifted setting, e.g. synchronizationJob or targetPartner.automaticUserConsentSettings.inboundAllowed."},
	"expected":           {kind: kindText, maxLen: 4000, doc: "What ctsync made the setting."},
	"actual":             {kind: kindText, maxLen: 4000, doc: "What ctsync found."},
	"step":               {kind: kindWord, doc: "The step that failed."},
	"category":           {kind: kindEnum, enum: []string{"conflict", "not_found", "denied", "throttled", "transient", "invalid"}, doc: "Failure class."},
	"reason":             {kind: kindText, maxLen: 4000, doc: "What went wrong."},
	"attempts":           {kind: kindCount, doc: "How many times the step was tried."},
	"failedEventId":      {kind: kindText, maxLen: 256, doc: "Id of the event whose handling failed."},
	"failedEventType":    {kind: kindWord, doc: "Type of the event whose handling failed."},
	"recordId":           {kind: kindText, maxLen: 256, doc: "provisioningObjectSummary id."},
	"activityDateTime":   {kind: kindTimestamp, doc: "When the provisioning activity happened."},
	"provisioningAction": {kind: kindWord, doc: "create, update, delete, disable, stagedDelete or other."},
	"sourceIdentity":     {kind: kindText, maxLen: 512, doc: "Source identity display name and id."},
	"targetIdentity":     {kind: kindText, maxLen: 512, doc: "Target identity display name and id."},
	"errorCode":          {kind: kindText, maxLen: 256, doc: "errorInformation.errorCode."},
	"recommendedAction":  {kind: kindText, maxLen: 4000, doc: "errorInformation.recommendedAction."},
}

var (
	guidPattern  = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	wordPattern  = `^[A-Za-z][A-Za-z0-9_.-]{0,127}$`
	jobIDPattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$`
	textPattern  = `^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$`
	textRe       = regexp.MustCompile(textPattern)
	guidRe       = regexp.MustCompile(guidPattern)
	wordRe       = regexp.MustCompile(wordPattern)
	jobIDRe      = regexp.MustCompile(jobIDPattern)
)

// IsGUID reports whether s is a GUID in the 8-4-4-4-12 form Graph uses for ids.
func IsGUID(s string) bool { return guidRe.MatchString(s) }

// Parse decodes a structured-mode CloudEvent and validates it against its
// type's spec. Errors are *ValidationError naming the field.
func Parse(body []byte) (Event, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(body, &attrs); err != nil || attrs == nil {
		return Event{}, invalid("event", "not a JSON object")
	}
	var e Event
	str := func(name string, required bool) (string, error) {
		raw, ok := attrs[name]
		if !ok || string(raw) == "null" {
			if required {
				return "", invalid(name, "required attribute is missing")
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalid(name, "must be a string")
		}
		if required && strings.TrimSpace(s) == "" {
			return "", invalid(name, "must not be empty")
		}
		return s, nil
	}
	var err error
	if e.SpecVersion, err = str("specversion", true); err != nil {
		return Event{}, err
	}
	if e.SpecVersion != SpecVersion {
		return Event{}, invalid("specversion", "must be %q, got %q", SpecVersion, e.SpecVersion)
	}
	if e.ID, err = str("id", true); err != nil {
		return Event{}, err
	}
	if len(e.ID) > 256 {
		return Event{}, invalid("id", "longer than 256 characters")
	}
	if e.Source, err = str("source", true); err != nil {
		return Event{}, err
	}
	typ, err := str("type", true)
	if err != nil {
		return Event{}, err
	}
	e.Type = Type(typ)
	spec, ok := Lookup(e.Type)
	if !ok {
		return Event{}, invalid("type", "unknown event type %q", typ)
	}
	if e.Subject, err = str("subject", false); err != nil {
		return Event{}, err
	}
	ts, err := str("time", false)
	if err != nil {
		return Event{}, err
	}
	if ts != "" {
		if e.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return Event{}, invalid("time", "not an RFC 3339 timestamp: %q", ts)
		}
	}
	if e.DataContentType, err = str("datacontenttype", false); err != nil {
		return Event{}, err
	}
	if e.DataContentType == "" {
		e.DataContentType = ContentType
	} else if mt, _, perr := mime.ParseMediaType(e.DataContentType); perr != nil || mt != ContentType {
		return Event{}, invalid("datacontenttype", "must be %s, got %q", ContentType, e.DataContentType)
	}
	if e.DataSchema, err = str("dataschema", false); err != nil {
		return Event{}, err
	}
	if e.CorrelationID, err = str("correlationid", false); err != nil {
		return Event{}, err
	}
	if raw, ok := attrs["ctsyncattempts"]; ok {
		if err := json.Unmarshal(raw, &e.Attempts); err != nil || e.Attempts < 0 || e.Attempts > maxAttempts {
			return Event{}, invalid("ctsyncattempts", "must be a whole number from 0 to %d", maxAttempts)
		}
	}
	if since, err := str("ctsyncwaitsince", false); err != nil {
		return Event{}, err
	} else if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return Event{}, invalid("ctsyncwaitsince", "not an RFC 3339 timestamp: %q", clip(since))
		}
		e.WaitingSince = &t
	}
	data, ok := attrs["data"]
	if !ok || string(data) == "null" {
		return Event{}, invalid("data", "required attribute is missing")
	}
	e.Data = data
	payload, err := validateData(spec, data)
	if err != nil {
		return Event{}, err
	}
	e.payload = payload
	return e, nil
}

// maxAttempts bounds the redelivery counter a message may claim.
const maxAttempts = 10000

// Validate checks an event built in memory, as Parse checks one read from a
// queue. Producers call it before publishing so a bad event never leaves.
func (e Event) Validate() error {
	_, _, err := e.Sealed()
	return err
}

// Sealed encodes the event and checks the encoding as Parse would check it
// on arrival. It returns the body to send and the event as the receiver will
// see it (its payload decoded): what a producer needs, encoded once.
func (e Event) Sealed() ([]byte, Event, error) {
	body, err := e.Encode()
	if err != nil {
		return nil, Event{}, invalid("event", "cannot encode: %v", err)
	}
	if e.payload != nil && e.ID != "" && e.Source != "" && len(e.ID) <= 256 {
		// Parsed already and only re-addressed since: checked once is enough.
		return body, e, nil
	}
	parsed, err := Parse(body)
	if err != nil {
		return nil, Event{}, err
	}
	parsed.NotBefore = e.NotBefore
	return body, parsed, nil
}

func validateData(spec Spec, data json.RawMessage) (any, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, invalid("data", "must be a JSON object")
	}
	for _, name := range spec.Required {
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			return nil, invalid("data."+name, "required field is missing (%s)", fields[name].doc)
		}
	}
	for _, name := range append(append([]string(nil), spec.Required...), spec.Optional...) {
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := fields[name].check("data."+name, raw); err != nil {
			return nil, err
		}
	}
	if err := crossCheck(obj); err != nil {
		return nil, err
	}
	payload := spec.NewData()
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(payload); err != nil {
		return nil, invalid("data", "%v", err)
	}
	return payload, nil
}

func crossCheck(obj map[string]json.RawMessage) error {
	var src, dst string
	_ = json.Unmarshal(obj["sourceTenantId"], &src)
	_ = json.Unmarshal(obj["targetTenantId"], &dst)
	if src != "" && strings.EqualFold(src, dst) {
		return invalid("data.targetTenantId", "must differ from sourceTenantId (a tenant cannot synchronize with itself)")
	}
	return nil
}

func (f field) check(path string, raw json.RawMessage) error {
	switch f.kind {
	case kindConfiguration:
		return checkConfiguration(path, raw)
	case kindGUIDList:
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return invalid(path, "must be an array of object ids")
		}
		if len(list) < f.minItems {
			return invalid(path, "needs at least %d object id(s)", f.minItems)
		}
		if f.maxLen > 0 && len(list) > f.maxLen {
			return invalid(path, "has %d entries, at most %d allowed", len(list), f.maxLen)
		}
		seen := map[string]bool{}
		for i, item := range list {
			p := fmt.Sprintf("%s[%d]", path, i)
			if err := (field{kind: kindGUID}).check(p, item); err != nil {
				return err
			}
			var s string
			_ = json.Unmarshal(item, &s)
			if seen[strings.ToLower(s)] {
				return invalid(p, "%s is listed twice", s)
			}
			seen[strings.ToLower(s)] = true
		}
		return nil
	case kindBool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return invalid(path, "must be true or false")
		}
		return nil
	case kindCount:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return invalid(path, "must be a number")
		}
		if v, err := n.Int64(); err != nil || v < 0 {
			return invalid(path, "must be a whole number of at least 0, got %s", n)
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return invalid(path, "must be a string")
	}
	switch f.kind {
	case kindGUID:
		if !IsGUID(s) {
			return invalid(path, "%q is not a GUID (expected 8-4-4-4-12 hexadecimal digits)", clip(s))
		}
	case kindText:
		if n := utf8.RuneCountInString(s); f.maxLen > 0 && n > f.maxLen {
			return invalid(path, "is %d characters long, at most %d allowed", n, f.maxLen)
		}
		if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return invalid(path, "must not contain control characters")
		}
		if !textRe.MatchString(s) {
			return invalid(path, "must not be empty or blank")
		}
	case kindWord:
		if !wordRe.MatchString(s) {
			return invalid(path, "%q is not a single word of letters, digits, '.', '_' or '-'", clip(s))
		}
	case kindJobID:
		if !jobIDRe.MatchString(s) {
			return invalid(path, "%q is not a synchronization job id", clip(s))
		}
	case kindTimestamp:
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return invalid(path, "%q is not an RFC 3339 timestamp", clip(s))
		}
	case kindEnum:
		for _, v := range f.enum {
			if s == v {
				return nil
			}
		}
		return invalid(path, "%q is not one of %s", clip(s), strings.Join(f.enum, ", "))
	}
	return nil
}

// clip keeps error messages readable when the input is huge or hostile.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Text makes s fit a text field of an event: control characters become
// spaces, runs of spaces collapse, and the result is clipped to max
// characters. Error messages from services often span lines.
func Text(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }), " ")
	if max > 0 && utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}
