package apitest

import (
	"net/http"
	"testing"
)

// The checker catches what the document does not allow, so a passing
// check means something.
func TestTheCheckerRefusesAnswersTheDocumentDoesNotDescribe(t *testing.T) {
	r := Document(t)
	json := http.Header{"Content-Type": {"application/json"}}
	withLocation := http.Header{"Content-Type": {"application/json"}, "Location": {"/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64"}}
	good := `{"onboardingId":"3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64","eventId":"e","location":"/onboardings/3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64","existing":false}`
	if err := Validate(r, "POST", "/onboardings", "", 202, withLocation, []byte(good)); err != nil {
		t.Fatalf("a documented answer was refused: %v", err)
	}
	for name, tc := range map[string]struct {
		status int
		header http.Header
		body   string
	}{
		"missing field":         {202, withLocation, `{"onboardingId":"3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64","eventId":"e","existing":false}`},
		"extra field":           {202, withLocation, `{"onboardingId":"3f9a7c1e-2b4d-4e8f-a1c3-5d7e9f0b2a64","eventId":"e","location":"/x","existing":false,"x":1}`},
		"missing Location":      {202, json, good},
		"undocumented status":   {418, json, `{"error":"teapot"}`},
		"problem without error": {400, json, `{"field":"users"}`},
	} {
		if err := Validate(r, "POST", "/onboardings", "", tc.status, tc.header, []byte(tc.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
