package plan

import (
	"fmt"
	"io"
)

var symbols = map[Action]string{Create: "+", Update: "~", Remove: "-", Unobservable: "?", Reported: "!"}

// Text writes the plan for people: one block per pair, one line per
// setting (+ create, ~ change, - remove, ? not observable, ! changed
// outside ctsync and only reported), the users leaving scope by name, and a
// loud warning when they reach the delete threshold.
func Text(w io.Writer, p Plan) {
	creates, updates, removes, leaving, reported := 0, 0, 0, 0, 0
	for _, pp := range p.Pairs {
		fmt.Fprintf(w, "pair %q (source %s → target %s)\n", pp.Name, pp.SourceTenantID, pp.TargetTenantID)
		switch {
		case pp.Absent && !pp.Pending():
			fmt.Fprintln(w, "  offboarded: nothing left to delete")
		case pp.Absent:
			fmt.Fprintln(w, "  OFFBOARD (state: absent), in this order:")
		case !pp.Pending() && len(pp.Leaving) == 0 && len(pp.Changes) == 0:
			fmt.Fprintln(w, "  no changes")
		case !pp.Pending() && len(pp.Leaving) == 0:
			fmt.Fprintln(w, "  nothing to apply; changed outside ctsync, reported and left as it is (!):")
		}
		for _, c := range pp.Changes {
			line := fmt.Sprintf("  %s %s %s", symbols[c.Action], c.Tenant, c.Setting)
			switch {
			case c.Action == Unobservable:
				line += ": " + c.To
			case c.Action == Reported:
				line += ": " + c.From + ", want " + c.To
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
			case Reported:
				reported++
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
	for _, r := range p.NoLongerInFile {
		fmt.Fprintf(w, "pair %q (source %s → target %s) is no longer in the file: nothing of it is deleted, and ctsync no longer manages it from this file;\n"+
			"  to take it apart, list it with state: absent, or run `ctsync offboard --source-tenant %s --target-tenant %s`\n",
			r.Name, r.SourceTenantID, r.TargetTenantID, r.SourceTenantID, r.TargetTenantID)
	}
	fmt.Fprintf(w, "\nplan: %d to create, %d to change, %d to remove; %d user(s) leave the scope", creates, updates, removes, leaving)
	if reported > 0 {
		fmt.Fprintf(w, "; %d changed outside ctsync and only reported", reported)
	}
	fmt.Fprintln(w)
}
