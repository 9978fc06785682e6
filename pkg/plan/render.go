package plan

import (
	"fmt"
	"io"
)

var symbols = map[Action]string{Create: "+", Update: "~", Remove: "-", Unobservable: "?"}

// Text writes the plan for people: one block per pair, one line per
// setting, the users leaving scope by name, and a loud warning when they
// reach the delete threshold.
func Text(w io.Writer, p Plan) {
	creates, updates, removes, leaving := 0, 0, 0, 0
	for _, pp := range p.Pairs {
		fmt.Fprintf(w, "pair %q (source %s → target %s)\n", pp.Name, pp.SourceTenantID, pp.TargetTenantID)
		if !pp.Pending() && len(pp.Leaving) == 0 {
			fmt.Fprintln(w, "  no changes")
		}
		for _, c := range pp.Changes {
			line := fmt.Sprintf("  %s %s %s", symbols[c.Action], c.Tenant, c.Setting)
			switch {
			case c.Action == Unobservable:
				line += ": " + c.To
			case c.From != "" && c.To != "":
				line += ": " + c.From + " → " + c.To
			case c.To != "":
				line += ": " + c.To
			}
			fmt.Fprintln(w, line)
			switch c.Action {
			case Create:
				creates++
			case Update:
				updates++
			case Remove:
				removes++
			}
		}
		for _, n := range pp.Notes {
			fmt.Fprintf(w, "  · %s\n", n)
		}
		if len(pp.Leaving) > 0 {
			leaving += len(pp.Leaving)
			fmt.Fprintf(w, "  - %d user(s) leave the scope (in scope now %d, after %d); the next cycle soft-deletes them in the target:\n",
				len(pp.Leaving), pp.InScopeNow, pp.InScopeAfter)
			for _, u := range pp.Leaving {
				fmt.Fprintf(w, "      %s (%s)\n", u.DisplayName, u.ID)
			}
		}
		if pp.OverThreshold && len(pp.Leaving) > 0 {
			fmt.Fprintf(w, "  !!! WARNING: %d deletions reach this pair's deleteThreshold of %d: the job will stop in quarantine (TooManyDeletes)\n"+
				"  !!! and delete nobody until a person checks the list and runs `ctsync approve-deletes --source-tenant %s --target-tenant %s --name %q`\n",
				len(pp.Leaving), pp.DeleteThreshold, pp.SourceTenantID, pp.TargetTenantID, pp.Name)
		}
	}
	fmt.Fprintf(w, "\nplan: %d to create, %d to change, %d to remove; %d user(s) leave the scope\n", creates, updates, removes, leaving)
}
