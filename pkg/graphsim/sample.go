package graphsim

// Sample tenants for demos and for pointing ctsync at a standalone emulator:
// Contoso (source, with users and a group) and Fabrikam (target).
const (
	SampleSourceTenant = "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11"
	SampleTargetTenant = "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55"
	SampleGroup        = "83e4f6a0-912c-4d5e-9f70-2c4d6e8f0a32"
)

// SampleUsers are Contoso's users; the last two are members of SampleGroup.
var SampleUsers = []UserSpec{
	{ID: "61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10", DisplayName: "Adele Vance", UserPrincipalName: "adele@contoso.com"},
	{ID: "72d3e5f9-801b-4c4d-8e6f-1b3c5d7e9f21", DisplayName: "Lee Gu", UserPrincipalName: "lee@contoso.com"},
	{ID: "83e4f6a0-912c-4d5e-9f70-2c4d6e8f0a99", DisplayName: "Megan Bowen", UserPrincipalName: "megan@contoso.com"},
	{ID: "94f5a7b1-a23d-4e6f-8a81-3d5e7f9a1b43", DisplayName: "Nestor Wilke", UserPrincipalName: "nestor@contoso.com"},
}

// AddSampleTenants adds Contoso and Fabrikam.
func (s *Server) AddSampleTenants() {
	s.AddTenant(TenantSpec{ID: SampleSourceTenant, DisplayName: "Contoso", Domain: "contoso.onmicrosoft.com", Users: SampleUsers,
		Groups: []GroupSpec{{ID: SampleGroup, DisplayName: "Sales", Members: []string{SampleUsers[2].ID, SampleUsers[3].ID}}}})
	s.AddTenant(TenantSpec{ID: SampleTargetTenant, DisplayName: "Fabrikam", Domain: "fabrikam.onmicrosoft.com"})
}
