package graph

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-beta-sdk-go/models"
	"github.com/microsoftgraph/msgraph-beta-sdk-go/serviceprincipals"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/fault"
)

// ValidateCredentials and SaveSecrets use APIs Microsoft deprecated on
// 2026-02-06 (removal announced for 2027-07-06) without a documented
// replacement yet; they stay behind entra.Directory so a replacement lands
// in this file only.

func (d *directory) ValidateCredentials(ctx context.Context, spID string, credentials []entra.Secret) error {
	pairs, err := secretPairs(entra.OpValidateCredentials, credentials)
	if err != nil {
		return err
	}
	body := serviceprincipals.NewItemSynchronizationJobsValidateCredentialsPostRequestBody()
	template, saved := entra.SyncJobTemplateID, false
	body.SetTemplateId(&template)
	body.SetUseSavedCredentials(&saved)
	body.SetCredentials(pairs)
	return d.fail(entra.OpValidateCredentials, d.jobs(spID).ValidateCredentials().Post(ctx, body, nil))
}

func (d *directory) SaveSecrets(ctx context.Context, spID string, secrets []entra.Secret) error {
	pairs, err := secretPairs(entra.OpPutSecrets, secrets)
	if err != nil {
		return err
	}
	body := serviceprincipals.NewItemSynchronizationSecretsPutRequestBody()
	body.SetValue(pairs)
	_, err = d.servicePrincipals().ByServicePrincipalId(spID).Synchronization().Secrets().PutAsSecretsPutResponse(ctx, body, nil)
	return d.fail(entra.OpPutSecrets, err)
}

func timeOf(t *time.Time) time.Time {
	// Entra spells "never" 0001-01-01T00:00:00Z.
	if t == nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}

func enumString[T interface{ String() string }](v *T) string {
	if v == nil {
		return ""
	}
	return (*v).String()
}

func jobFrom(j models.SynchronizationJobable) entra.Job {
	out := entra.Job{ID: deref(j.GetId()), TemplateID: deref(j.GetTemplateId())}
	if s := j.GetSchedule(); s != nil {
		out.ScheduleState = enumString(s.GetState())
	}
	st := j.GetStatus()
	if st == nil {
		return out
	}
	out.StatusCode = enumString(st.GetCode())
	out.SteadyState = timeOf(st.GetSteadyStateFirstAchievedTime())
	if e := st.GetLastExecution(); e != nil {
		ex := &entra.Execution{State: enumString(e.GetState()), Began: timeOf(e.GetTimeBegan()), Ended: timeOf(e.GetTimeEnded()),
			Exported: deref(e.GetCountExported()), Escrowed: deref(e.GetCountEscrowed())}
		if er := e.GetError(); er != nil {
			ex.ErrorCode, ex.Message = deref(er.GetCode()), deref(er.GetMessage())
		}
		out.LastExecution = ex
	}
	if q := st.GetQuarantine(); q != nil {
		qu := &entra.Quarantine{Reason: enumString(q.GetReason()), CurrentBegan: timeOf(q.GetCurrentBegan()), NextAttempt: timeOf(q.GetNextAttempt())}
		if qu.Reason == "" {
			// The SDK turns a reason it does not know into nil, silently.
			qu.Reason = "Unknown"
		}
		if er := q.GetError(); er != nil {
			qu.ErrorCode, qu.Message = deref(er.GetCode()), deref(er.GetMessage())
		}
		out.Quarantine = qu
	}
	return out
}

func (d *directory) ListJobs(ctx context.Context, spID string) ([]entra.Job, error) {
	resp, err := d.jobs(spID).Get(ctx, nil)
	if err != nil {
		return nil, d.fail(entra.OpListJobs, err)
	}
	var out []entra.Job
	for _, j := range resp.GetValue() {
		out = append(out, jobFrom(j))
	}
	return out, nil
}

func (d *directory) CreateJob(ctx context.Context, spID, templateID string) (entra.Job, error) {
	body := models.NewSynchronizationJob()
	body.SetTemplateId(&templateID)
	j, err := d.jobs(spID).Post(ctx, body, nil)
	if err != nil {
		return entra.Job{}, d.fail(entra.OpCreateJob, err)
	}
	return jobFrom(j), nil
}

func (d *directory) GetJob(ctx context.Context, spID, jobID string) (entra.Job, error) {
	j, err := d.jobs(spID).BySynchronizationJobId(jobID).Get(ctx, nil)
	if err != nil {
		return entra.Job{}, d.fail(entra.OpGetJob, err)
	}
	return jobFrom(j), nil
}

func (d *directory) SynchronizationRules(ctx context.Context, spID, jobID string) ([]entra.SyncRule, error) {
	schema, err := d.jobs(spID).BySynchronizationJobId(jobID).Schema().Get(ctx, nil)
	if err != nil {
		return nil, d.fail(entra.OpGetSchema, err)
	}
	var out []entra.SyncRule
	for _, r := range schema.GetSynchronizationRules() {
		out = append(out, entra.SyncRule{ID: deref(r.GetId()), Name: deref(r.GetName()), Priority: int(deref(r.GetPriority()))})
	}
	return out, nil
}

func (d *directory) ProvisionOnDemand(ctx context.Context, spID, jobID, ruleID, userID string) (entra.OnDemandResult, error) {
	subject := models.NewSynchronizationJobSubject()
	typ := "User"
	subject.SetObjectId(&userID)
	subject.SetObjectTypeName(&typ)
	param := models.NewSynchronizationJobApplicationParameters()
	param.SetRuleId(&ruleID)
	param.SetSubjects([]models.SynchronizationJobSubjectable{subject})
	body := serviceprincipals.NewItemSynchronizationJobsItemProvisionOnDemandPostRequestBody()
	body.SetParameters([]models.SynchronizationJobApplicationParametersable{param})
	resp, err := d.jobs(spID).BySynchronizationJobId(jobID).ProvisionOnDemand().Post(ctx, body, nil)
	if err != nil {
		return entra.OnDemandResult{}, d.fail(entra.OpProvisionOnDemand, err)
	}
	return onDemandResult(deref(resp.GetKey()), deref(resp.GetValue())), nil
}

// onDemandResult reads the answer's two documented shapes: the reference's
// key {"result","details":{"errorCode","reason"}} with a value holding
// statusInfo, and the article's value: an array of provisioningSteps whose
// export step says what happened.
func onDemandResult(key, value string) entra.OnDemandResult {
	var ref struct {
		Result  string `json:"result"`
		Details struct {
			ErrorCode string `json:"errorCode"`
			Reason    string `json:"reason"`
		} `json:"details"`
	}
	if json.Unmarshal([]byte(key), &ref) == nil && ref.Result != "" {
		return entra.OnDemandResult{Result: ref.Result, ErrorCode: ref.Details.ErrorCode, Reason: ref.Details.Reason}
	}
	var steps []struct {
		ProvisioningSteps []struct {
			Name, Type, Status, Description string
		} `json:"provisioningSteps"`
	}
	if json.Unmarshal([]byte(value), &steps) == nil {
		res := entra.OnDemandResult{}
		for _, s := range steps {
			for _, st := range s.ProvisioningSteps {
				if strings.EqualFold(st.Type, "Export") || strings.HasPrefix(st.Name, "EntryExport") {
					res.Result, res.Reason = st.Status, st.Description
				}
			}
		}
		return res
	}
	return entra.OnDemandResult{}
}

func (d *directory) StartJob(ctx context.Context, spID, jobID string) error {
	return d.fail(entra.OpStartJob, d.jobs(spID).BySynchronizationJobId(jobID).Start().Post(ctx, nil))
}

func (d *directory) RestartJob(ctx context.Context, spID, jobID, resetScope string) error {
	parsed, err := models.ParseSynchronizationJobRestartScope(strings.ReplaceAll(resetScope, " ", ""))
	scope, ok := parsed.(*models.SynchronizationJobRestartScope)
	if err != nil || !ok {
		return fault.New(fault.Invalid, string(entra.OpRestartJob), "%q is not a restart scope", resetScope)
	}
	criteria := models.NewSynchronizationJobRestartCriteria()
	criteria.SetResetScope(scope)
	body := serviceprincipals.NewItemSynchronizationJobsItemRestartPostRequestBody()
	body.SetCriteria(criteria)
	return d.fail(entra.OpRestartJob, d.jobs(spID).BySynchronizationJobId(jobID).Restart().Post(ctx, body, nil))
}
