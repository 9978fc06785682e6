package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DecodeLogPage reads one page of /auditLogs/provisioning as Graph sends it:
// the fields ctsync acts on, and each record exactly as sent. It reads the
// page once (see logScan), outside the Graph SDK, so it is cheap and can be
// fuzzed; its answers are encoding/json's.
func DecodeLogPage(body []byte) (LogPage, error) {
	page, err := decodeLogPageScan(body)
	if err != nil {
		return LogPage{}, fmt.Errorf("undecodable provisioning page: %w", err)
	}
	return page, nil
}

// DecodeLogRecord reads one provisioningObjectSummary.
func DecodeLogRecord(raw []byte) (LogRecord, error) {
	var f struct {
		ID               string    `json:"id"`
		ActivityDateTime time.Time `json:"activityDateTime"`
		JobID            string    `json:"jobId"`
		Action           string    `json:"provisioningAction"`
		ServicePrincipal struct {
			ID string `json:"id"`
		} `json:"servicePrincipal"`
		SourceIdentity logIdentity `json:"sourceIdentity"`
		TargetIdentity logIdentity `json:"targetIdentity"`
		Status         struct {
			Status string `json:"status"`
			Error  *struct {
				ErrorCode         string `json:"errorCode"`
				Reason            string `json:"reason"`
				RecommendedAction string `json:"recommendedAction"`
			} `json:"errorInformation"`
		} `json:"provisioningStatusInfo"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return LogRecord{}, fmt.Errorf("undecodable provisioning record: %w", err)
	}
	if f.ID == "" || f.ActivityDateTime.IsZero() {
		return LogRecord{}, errors.New("provisioning record without id or activityDateTime")
	}
	rec := LogRecord{ID: f.ID, ActivityDateTime: f.ActivityDateTime.UTC(), JobID: f.JobID, ServicePrincipalID: f.ServicePrincipal.ID,
		Action: f.Action, Status: f.Status.Status, SourceID: f.SourceIdentity.ID, SourceName: f.SourceIdentity.DisplayName,
		TargetID: f.TargetIdentity.ID, TargetName: f.TargetIdentity.DisplayName, Raw: append(json.RawMessage(nil), raw...)}
	if e := f.Status.Error; e != nil {
		rec.ErrorCode, rec.Reason, rec.RecommendedAction = e.ErrorCode, e.Reason, e.RecommendedAction
	}
	return rec, nil
}

type logIdentity struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}
