package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/note"
)

// heldDeletionPages bounds how much of the logs the monitor reads to name
// the held users: a quarantine's StagedDelete records are written together,
// right when the cycle stops.
const heldDeletionPages = 10

// heldDeletions names the users a TooManyDeletes quarantine holds. Entra
// writes each held deletion to the provisioning logs as a StagedDelete
// record (schema.md §3), so the alert can say who would go, by name and
// id, instead of a count. A failed read is noted and leaves the list
// empty: the alert goes out anyway, pointing at the logs.
func heldDeletions(ctx context.Context, source entra.Directory, servicePrincipalID string, since time.Time) (list string, count int) {
	if since.IsZero() {
		since = time.Now().Add(-24 * time.Hour)
	}
	q := entra.LogQuery{ServicePrincipalID: servicePrincipalID, After: since.Add(-time.Hour), Top: 1000}
	seen := map[string]bool{}
	var names []string
	next := ""
	for range heldDeletionPages {
		page, err := source.ProvisioningLogs(ctx, q, next)
		if err != nil {
			note.Add(ctx, "could not read the held deletions from the provisioning logs: %v", err)
			break
		}
		for _, r := range page.Records {
			if !strings.EqualFold(r.Action, "stagedDelete") || seen[r.SourceID] {
				continue
			}
			seen[r.SourceID] = true
			names = append(names, fmt.Sprintf("%s (%s)", r.SourceName, r.SourceID))
		}
		if next = page.NextLink; next == "" {
			break
		}
	}
	return summarize(names, 3000), len(names)
}

// summarize joins names up to about max characters, saying how many more
// there are.
func summarize(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if b.Len()+len(n) > max {
			fmt.Fprintf(&b, " … and %d more", len(names)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return events.Text(b.String(), 4000)
}
