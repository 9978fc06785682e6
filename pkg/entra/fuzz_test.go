package entra

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// decodeLogPageStd is the page read with encoding/json alone: the reference
// the one-pass scanner must agree with.
func decodeLogPageStd(body []byte) (LogPage, error) {
	var env struct {
		Value    []json.RawMessage `json:"value"`
		NextLink string            `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return LogPage{}, err
	}
	page := LogPage{NextLink: env.NextLink, Records: make([]LogRecord, 0, len(env.Value))}
	for _, raw := range env.Value {
		rec, err := DecodeLogRecord(raw)
		if err != nil {
			return LogPage{}, err
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}

// FuzzDecodeLogPage: every page of /auditLogs/provisioning the harvester
// reads. Never a panic, and the one-pass scanner answers exactly what
// encoding/json answers: the same pages refused, the same fields and the
// same raw records for the pages accepted.
func FuzzDecodeLogPage(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"Azure2Azure_1","activityDateTime":"2026-11-30T10:00:00Z","jobId":"Azure2Azure.a.b",` +
		`"provisioningAction":"create","servicePrincipal":{"id":"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"},` +
		`"sourceIdentity":{"id":"s","displayName":"Adele \u00e9"},"targetIdentity":{"id":"t","displayName":"A"},` +
		`"provisioningStatusInfo":{"status":"failure","errorInformation":{"errorCode":"X","reason":"r","recommendedAction":"do"}}}],` +
		`"@odata.nextLink":"https://graph.microsoft.com/beta/auditLogs/provisioning?$skiptoken=a"}`))
	f.Add([]byte(`{"value":[]}`))
	f.Add([]byte(`{"value":[{"id":""}]}`))
	f.Add([]byte(`{"VALUE":[{"ID":"a","ActivityDateTime":"2026-11-30T10:00:00+02:00","activityDateTime":null}],"value":null}`))
	f.Add([]byte(`{"value":[{"id":"a","activityDateTime":"2026-11-30T10:00:00Z","provisioningStatusInfo":{"errorInformation":{"errorCode":"X"},"errorInformation":null}}]}`))
	f.Add([]byte(`{"value":[{"id":1,"activityDateTime":"2026-11-30T10:00:00Z"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := DecodeLogPage(body)
		want, wantErr := decodeLogPageStd(body)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("scanner error %v, encoding/json error %v\n%q", gotErr, wantErr, body)
		}
		if gotErr != nil {
			return
		}
		if got.NextLink != want.NextLink || len(got.Records) != len(want.Records) {
			t.Fatalf("scanner %d records, next %q; encoding/json %d, next %q", len(got.Records), got.NextLink, len(want.Records), want.NextLink)
		}
		for i := range got.Records {
			g, w := got.Records[i], want.Records[i]
			if string(g.Raw) != string(w.Raw) {
				t.Fatalf("record %d raw %q, want %q", i, g.Raw, w.Raw)
			}
			g.Raw, w.Raw = nil, nil
			if !g.ActivityDateTime.Equal(w.ActivityDateTime) {
				t.Fatalf("record %d time %v, want %v", i, g.ActivityDateTime, w.ActivityDateTime)
			}
			g.ActivityDateTime = w.ActivityDateTime // equal instants, maybe different locations
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("record %d:\n%s\nwant\n%s", i, fmt.Sprintf("%+v", g), fmt.Sprintf("%+v", w))
			}
		}
	})
}
