package graph

import (
	"fmt"
	"strings"
	"testing"
)

// page500 is a provisioning page of 500 records in Graph's shape.
func page500() []byte {
	var b strings.Builder
	b.WriteString(`{"@odata.context":"https://graph.microsoft.com/beta/$metadata#auditLogs/provisioning","value":[`)
	for i := 0; i < 500; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"Azure2Azure_%08d","activityDateTime":"2026-11-23T10:%02d:%02d.1234567Z","tenantId":"0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11",`+
			`"jobId":"Azure2Azure.8a2f.0b7f","cycleId":"c","changeId":"d","provisioningAction":"create","durationInMilliseconds":1200,`+
			`"initiatedBy":{"id":"","displayName":"Azure AD Provisioning Service","initiatorType":"system"},`+
			`"servicePrincipal":{"id":"a4f5b6c7-d8e9-4f0a-8b1c-2d3e4f5a6b7c","displayName":"Contoso to Fabrikam"},`+
			`"sourceIdentity":{"id":"61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10","displayName":"User %d","identityType":"User","details":{}},`+
			`"targetIdentity":{"id":"","displayName":"User %d","identityType":"User","details":{}},"modifiedProperties":[],`+
			`"provisioningSteps":[{"name":"EntryImport","provisioningStepType":"import","status":"success","description":"Retrieved","details":{}}],`+
			`"provisioningStatusInfo":{"status":"success","errorInformation":null}}`, i, i/60%60, i%60, i, i)
	}
	b.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/beta/auditLogs/provisioning?$skiptoken=x"}`)
	return []byte(b.String())
}

func BenchmarkDecodeLogPage500(b *testing.B) {
	body := page500()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		page, err := decodeLogPage(body)
		if err != nil || len(page.Records) != 500 {
			b.Fatal(err, len(page.Records))
		}
	}
	b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "records/s")
}
