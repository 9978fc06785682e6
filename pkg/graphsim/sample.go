package graphsim

import "fmt"

// Sample tenants for demos and for pointing ctsync at a standalone emulator:
// Contoso (source, with users and a group) and Fabrikam (target).
const (
	SampleSourceTenant = "0b7f3c2e-5a4d-4e61-9c1a-7d2e8f901a11"
	SampleTargetTenant = "9e2d6a1b-3c4f-4b7a-8e5d-1f0a2b3c4d55"
	SampleGroup        = "83e4f6a0-912c-4d5e-9f70-2c4d6e8f0a32"
)

// SampleUsers are Contoso's users; the last two are members of SampleGroup.
// Adele and Megan work in Marketing, Lee and Nestor in Sales.
var SampleUsers = []UserSpec{
	{ID: "61c2d4e8-7f1a-4b3c-9d5e-0a2b4c6d8e10", DisplayName: "Adele Vance", UserPrincipalName: "adele@contoso.com",
		Attributes: map[string]any{"department": "Marketing", "employeeId": "E1001", "jobTitle": "Marketing Manager"}},
	{ID: "72d3e5f9-801b-4c4d-8e6f-1b3c5d7e9f21", DisplayName: "Lee Gu", UserPrincipalName: "lee@contoso.com",
		Attributes: map[string]any{"department": "Sales", "employeeId": "E1002", "jobTitle": "Director"}},
	{ID: "83e4f6a0-912c-4d5e-9f70-2c4d6e8f0a99", DisplayName: "Megan Bowen", UserPrincipalName: "megan@contoso.com",
		Attributes: map[string]any{"department": "Marketing", "employeeId": "E1003"}},
	{ID: "94f5a7b1-a23d-4e6f-8a81-3d5e7f9a1b43", DisplayName: "Nestor Wilke", UserPrincipalName: "nestor@contoso.com",
		Attributes: map[string]any{"department": "Sales"}},
}

// AddSampleTenants adds Contoso and Fabrikam.
func (s *Server) AddSampleTenants() {
	s.AddTenant(TenantSpec{ID: SampleSourceTenant, DisplayName: "Contoso", Domain: "contoso.onmicrosoft.com", Users: SampleUsers,
		Groups: []GroupSpec{{ID: SampleGroup, DisplayName: "Sales", Members: []string{SampleUsers[2].ID, SampleUsers[3].ID}}}})
	s.AddTenant(TenantSpec{ID: SampleTargetTenant, DisplayName: "Fabrikam", Domain: "fabrikam.onmicrosoft.com"})
}

// Pair is a synthetic tenant pair: a source tenant with two users and a
// group (holding a third user), and an empty target tenant.
type Pair struct {
	Source, Target string
	Users          []string
	Group          string
}

// AddTenantPairs adds n synthetic tenant pairs, for scale tests and for
// rehearsing many onboardings (`ctsync emulator --pairs`). Their ids are
// derived from the pair's number, so every run has the same ones.
func (s *Server) AddTenantPairs(n int) []Pair {
	id := func(i, role int) string { return fmt.Sprintf("%08x-%04x-4000-8000-%012x", 0xc7500000+i, role, i) }
	pairs := make([]Pair, n)
	for i := range n {
		p := Pair{Source: id(i, 1), Target: id(i, 2), Users: []string{id(i, 3), id(i, 4)}, Group: id(i, 5)}
		member := id(i, 6)
		s.AddTenant(TenantSpec{ID: p.Source, DisplayName: fmt.Sprintf("Source %d", i), Domain: fmt.Sprintf("source%d.onmicrosoft.com", i),
			Users: []UserSpec{
				{ID: p.Users[0], DisplayName: fmt.Sprintf("User %d-a", i), UserPrincipalName: fmt.Sprintf("a@source%d.onmicrosoft.com", i)},
				{ID: p.Users[1], DisplayName: fmt.Sprintf("User %d-b", i), UserPrincipalName: fmt.Sprintf("b@source%d.onmicrosoft.com", i)},
				{ID: member, DisplayName: fmt.Sprintf("User %d-c", i), UserPrincipalName: fmt.Sprintf("c@source%d.onmicrosoft.com", i)},
			},
			Groups: []GroupSpec{{ID: p.Group, DisplayName: fmt.Sprintf("Group %d", i), Members: []string{member}}}})
		s.AddTenant(TenantSpec{ID: p.Target, DisplayName: fmt.Sprintf("Target %d", i), Domain: fmt.Sprintf("target%d.onmicrosoft.com", i)})
		pairs[i] = p
	}
	return pairs
}

// HubAndSpokes is a hub tenant with users and a group, and its spokes.
type HubAndSpokes struct {
	Hub    string
	Users  []string
	Group  string
	Spokes []string
}

// AddHubAndSpokes adds a hub tenant (two users, a group with a third) and n
// empty spoke tenants, for fan-out tests and benchmarks. A spoke costs a few
// small maps, so thousands are cheap. Ids are derived from the numbers.
func (s *Server) AddHubAndSpokes(n int) HubAndSpokes {
	id := func(i, role int) string { return fmt.Sprintf("%08x-%04x-4000-8000-%012x", 0xb0b00000+i, role, i) }
	h := HubAndSpokes{Hub: id(0, 1), Users: []string{id(0, 3), id(0, 4)}, Group: id(0, 5)}
	member := id(0, 6)
	s.AddTenant(TenantSpec{ID: h.Hub, DisplayName: "Hub", Domain: "hub.onmicrosoft.com",
		Users: []UserSpec{
			{ID: h.Users[0], DisplayName: "Hub user a", UserPrincipalName: "a@hub.onmicrosoft.com"},
			{ID: h.Users[1], DisplayName: "Hub user b", UserPrincipalName: "b@hub.onmicrosoft.com"},
			{ID: member, DisplayName: "Hub user c", UserPrincipalName: "c@hub.onmicrosoft.com"},
		},
		Groups: []GroupSpec{{ID: h.Group, DisplayName: "Hub group", Members: []string{member}}}})
	for i := 1; i <= n; i++ {
		spoke := id(i, 2)
		s.AddTenant(TenantSpec{ID: spoke, DisplayName: fmt.Sprintf("Spoke %d", i), Domain: fmt.Sprintf("spoke%d.onmicrosoft.com", i)})
		h.Spokes = append(h.Spokes, spoke)
	}
	return h
}
