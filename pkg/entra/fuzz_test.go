package entra

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeLogPage: every page of /auditLogs/provisioning the harvester
// reads. Never a panic; every record of an accepted page has an id and keeps
// its original JSON, which decodes again to the same record.
func FuzzDecodeLogPage(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"Azure2Azure_1","activityDateTime":"2026-11-30T10:00:00Z","jobId":"Azure2Azure.a.b",` +
		`"provisioningAction":"create","servicePrincipal":{"id":"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"},` +
		`"provisioningStatusInfo":{"status":"failure","errorInformation":{"errorCode":"X","reason":"r"}}}],` +
		`"@odata.nextLink":"https://graph.microsoft.com/beta/auditLogs/provisioning?$skiptoken=a"}`))
	f.Add([]byte(`{"value":[]}`))
	f.Add([]byte(`{"value":[{"id":""}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		page, err := DecodeLogPage(body)
		if err != nil {
			return
		}
		for _, r := range page.Records {
			if !json.Valid(r.Raw) {
				t.Fatalf("a record kept invalid JSON: %q", r.Raw)
			}
			again, err := DecodeLogRecord(r.Raw)
			if err != nil || again.ID != r.ID || !again.ActivityDateTime.Equal(r.ActivityDateTime) {
				t.Fatalf("a record does not decode again the same: %v", err)
			}
		}
	})
}
