package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
)

func runLogs(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("logs")
	var q store.RecordQuery
	fs.StringVar(&q.ServicePrincipalID, "config", "", "configuration: its service principal id")
	fs.StringVar(&q.Status, "status", "", "success, failure, skipped or warning")
	since := fs.String("since", "", "how far back: a duration (24h) or a time (RFC 3339)")
	fs.StringVar(&q.User, "user", "", "source user: object id, or part of the display name")
	fs.IntVar(&q.Limit, "limit", 50, "most records to show, newest first")
	out := outputFlag(fs)
	raw := fs.Bool("raw", false, "print the records exactly as Graph sent them, one JSON object per line")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	switch q.Status {
	case "", "success", "failure", "skipped", "warning":
	default:
		return fmt.Errorf("%w: --status must be success, failure, skipped or warning", errUsage)
	}
	if q.Limit < 1 {
		return fmt.Errorf("%w: --limit must be at least 1", errUsage)
	}
	if q.ServicePrincipalID != "" && !events.IsGUID(q.ServicePrincipalID) {
		return fmt.Errorf("%w: --config must be a service principal's object id (a GUID)", errUsage)
	}
	if *raw && *out == outputJSON {
		return fmt.Errorf("%w: --raw and --output json are two different formats; choose one", errUsage)
	}
	if *since != "" {
		var err error
		if q.Since, err = parseSince(*since, time.Now()); err != nil {
			return err
		}
	}
	recs, err := env.queryRecords(ctx, q)
	if err != nil {
		return err
	}
	if *out == outputJSON {
		return writeJSON(env.stdout, recordsOut(recs))
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

// parseSince reads --since: a positive duration back from now, or a time
// that is not in the future.
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%w: --since %s must be a positive duration (how far back)", errUsage, v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --since %q is neither a duration (24h) nor an RFC 3339 time", errUsage, v)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("%w: --since %s is in the future", errUsage, v)
	}
	return t, nil
}

// queryRecords reads collected records from wherever the configured store
// keeps them: the local records table, or the cloud's objects.
func (e *environment) queryRecords(ctx context.Context, q store.RecordQuery) ([]store.Record, error) {
	kind, err := e.storeKind(storeSQLite)
	if err != nil {
		return nil, err
	}
	if kind == storeSQLite {
		st, err := app.OpenState(e.stateDir(), localdb.Options{ExistingOnly: true})
		if errors.Is(err, localdb.ErrNoState) {
			return nil, nil // nothing harvested here yet
		}
		if err != nil {
			return nil, err
		}
		defer st.Close()
		return st.Records.QueryRecords(ctx, q)
	}
	shared, err := e.openSharedState(ctx, kind)
	if err != nil {
		return nil, err
	}
	found, err := harvest.ReadObjects(ctx, shared.objects, harvest.RecordFilter{ServicePrincipalID: q.ServicePrincipalID, Status: q.Status,
		Since: q.Since, User: q.User, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]store.Record, len(found))
	for i, r := range found {
		out[i] = store.Record{ID: r.ID, ServicePrincipalID: r.ServicePrincipalID, JobID: r.JobID, Activity: r.ActivityDateTime, Status: r.Status,
			Action: r.Action, SourceID: r.SourceID, SourceName: r.SourceName, TargetID: r.TargetID, ErrorCode: r.ErrorCode, Reason: r.Reason, Raw: string(r.Raw)}
	}
	return out, nil
}
