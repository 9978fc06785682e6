package wire

import "testing"

func TestNextLinksAreFollowedOnlyToTheProvisioningLogsOfTheGraphEndpoint(t *testing.T) {
	const endpoint = "https://graph.microsoft.com"
	for link, ok := range map[string]bool{
		"https://graph.microsoft.com/beta/auditLogs/provisioning?$top=500&$skiptoken=abc": true,
		"https://GRAPH.microsoft.com/v1.0/auditLogs/provisioning?$skiptoken=abc":          true,
		"https://evil.example/beta/auditLogs/provisioning?$skiptoken=abc":                 false,
		"https://graph.microsoft.com@evil.example/beta/auditLogs/provisioning":            false,
		"https://user:pw@graph.microsoft.com/beta/auditLogs/provisioning":                 false,
		"http://graph.microsoft.com/beta/auditLogs/provisioning":                          false,
		"https://graph.microsoft.com/beta/users?$top=999":                                 false,
		"https://graph.microsoft.com/beta/auditLogs/provisioning/../../users":             false,
		"https://graph.microsoft.com:8443/beta/auditLogs/provisioning":                    false,
		"/beta/auditLogs/provisioning?$skiptoken=abc":                                     false,
		"https://graph.microsoft.com/beta/auditLogs/provisioning#fragment":                false,
		"https://graph.microsoft.com/beta/auditLogs/provisioning%2F..%2F..%2Fusers?x=1":   false,
		"https://graph.microsoft.us/beta/auditLogs/provisioning?$skiptoken=a":             false,
		"https://graph.microsoft.com/beta/auditLogs/provisioning?$skiptoken=a&$filter=x":  true,
	} {
		if err := CheckNextLink(endpoint, link); (err == nil) != ok {
			t.Errorf("%s: accepted=%v, want %v (%v)", link, err == nil, ok, err)
		}
	}
	if err := CheckNextLink("https://127.0.0.1:8443", "https://127.0.0.1:8443/beta/auditLogs/provisioning?$skiptoken=x"); err != nil {
		t.Errorf("the emulator's own links: %v", err)
	}
}

func TestNextLinksOfOtherCollectionsMustNameTheSameCollection(t *testing.T) {
	const endpoint = "https://graph.microsoft.com"
	const resource = "servicePrincipals/6cafaf27-487c-4914-a43a-c068674edd6a/appRoleAssignedTo"
	for link, ok := range map[string]bool{
		"https://graph.microsoft.com/beta/" + resource + "?$skiptoken=2":                                            true,
		"https://graph.microsoft.com/v1.0/" + resource + "?$skiptoken=2":                                            true,
		"https://graph.microsoft.com/beta/servicePrincipals/00000000-0000-0000-0000-000000000000/appRoleAssignedTo": false,
		"https://graph.microsoft.com/beta/auditLogs/provisioning":                                                   false,
		"https://evil.example/beta/" + resource:                                                                     false,
	} {
		if err := CheckNextLinkOf(endpoint, link, resource); (err == nil) != ok {
			t.Errorf("%s: accepted=%v, want %v (%v)", link, err == nil, ok, err)
		}
	}
}
