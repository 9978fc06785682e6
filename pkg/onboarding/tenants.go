package onboarding

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/events"
)

// Tenants is the allow-list: the tenants ctsync may touch. A nil *Tenants
// allows every tenant the application can reach.
type Tenants struct {
	ids map[string]bool
}

// ParseTenants reads an allow-list: tenant ids separated by commas, spaces
// or new lines; # starts a comment. from names where it came from, for
// errors. An empty list is refused: it would allow nothing, which is never
// what was meant.
func ParseTenants(list, from string) (*Tenants, error) {
	t := &Tenants{ids: map[string]bool{}}
	sc := bufio.NewScanner(strings.NewReader(list))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		for _, id := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == ';' }) {
			if !events.IsGUID(id) {
				return nil, fmt.Errorf("%s, line %d: %q is not a tenant id (a GUID)", from, line, id)
			}
			t.ids[strings.ToLower(id)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if len(t.ids) == 0 {
		return nil, fmt.Errorf("%s names no tenant; unset it to allow every tenant the application can reach", from)
	}
	return t, nil
}

// Allows reports whether ctsync may touch tenantID.
func (t *Tenants) Allows(tenantID string) bool {
	return t == nil || t.ids[strings.ToLower(tenantID)]
}

// Len is how many tenants the list names (0 for "every tenant").
func (t *Tenants) Len() int {
	if t == nil {
		return 0
	}
	return len(t.ids)
}

// Check returns a *TenantNotAllowed for the first of ids the list refuses.
func (t *Tenants) Check(ids ...string) error {
	for _, id := range ids {
		if !t.Allows(id) {
			return &TenantNotAllowed{TenantID: id}
		}
	}
	return nil
}

// TenantNotAllowed is a request naming a tenant outside the allow-list.
type TenantNotAllowed struct{ TenantID string }

func (e *TenantNotAllowed) Error() string {
	return fmt.Sprintf("tenant %s is not in ctsync's allow-list (CTSYNC_ALLOWED_TENANTS); nothing was queued", e.TenantID)
}
