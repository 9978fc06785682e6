package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
)

func runLogs(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	var q store.RecordQuery
	fs.StringVar(&q.ServicePrincipalID, "config", "", "configuration: its service principal id")
	fs.StringVar(&q.Status, "status", "", "success, failure, skipped or warning")
	since := fs.String("since", "", "how far back: a duration (24h) or a time (RFC 3339)")
	fs.StringVar(&q.User, "user", "", "source user: object id, or part of the display name")
	fs.IntVar(&q.Limit, "limit", 50, "most records to show")
	raw := fs.Bool("json", false, "print the records as Graph sent them, one per line")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	switch q.Status {
	case "", "success", "failure", "skipped", "warning":
	default:
		return fmt.Errorf("%w: --status must be success, failure, skipped or warning", errUsage)
	}
	if *since != "" {
		if d, err := time.ParseDuration(*since); err == nil {
			q.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, *since); err == nil {
			q.Since = t
		} else {
			return fmt.Errorf("%w: --since %q is neither a duration (24h) nor an RFC 3339 time", errUsage, *since)
		}
	}
	st, err := app.OpenState(env.stateDir(), localdb.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	s := st.Store

	recs, err := s.QueryRecords(ctx, q)
	if err != nil {
		return err
	}
	if *raw {
		for _, r := range recs {
			fmt.Fprintln(env.stdout, r.Raw)
		}
		return nil
	}
	if len(recs) == 0 {
		fmt.Fprintln(env.stdout, "no provisioning records match (collect them with `ctsync harvest --once` or `ctsync serve`)")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTATUS\tACTION\tUSER\tCONFIGURATION\tERROR")
	for _, r := range recs {
		user := strings.TrimSpace(r.SourceName + " " + r.SourceID)
		problem := ""
		if r.ErrorCode != "" || r.Reason != "" {
			problem = events.Text(r.ErrorCode+": "+r.Reason, 120)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Activity.Format(time.RFC3339), r.Status, r.Action, user, r.ServicePrincipalID, problem)
	}
	return tw.Flush()
}
