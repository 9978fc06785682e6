package store

import (
	"context"

	"encoding/json"
	"time"
)

// migrate carries a state directory written by an earlier ctsync (one table
// per kind of record) into the KV, once, and drops the old tables in the
// same transaction: users upgrading keep their onboardings, intents and
// checkpoints.
func (s *SQLite) migrate(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'onboardings'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	return s.Atomically(ctx, func(kv KV) error {
		tx := kv.(*SQLite).q
		st := New(kv)
		millis := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
		rows, err := tx.QueryContext(ctx, `SELECT id, source_tenant, target_tenant, name, users, groups_json, requested_by, sp_id, app_id,
			app_role_id, job_id, state, step, last_event, detail, remedy, job_status, created_at, updated_at FROM onboardings`)
		if err != nil {
			return err
		}
		var onboardings []Onboarding
		for rows.Next() {
			var o Onboarding
			var users, groups, state string
			var created, updated int64
			if err := rows.Scan(&o.ID, &o.SourceTenantID, &o.TargetTenantID, &o.Name, &users, &groups, &o.RequestedBy, &o.ServicePrincipalID,
				&o.AppID, &o.AppRoleID, &o.JobID, &state, &o.Step, &o.LastEvent, &o.Detail, &o.Remedy, &o.JobStatus, &created, &updated); err != nil {
				rows.Close()
				return err
			}
			_ = json.Unmarshal([]byte(users), &o.Users)
			_ = json.Unmarshal([]byte(groups), &o.Groups)
			o.State, o.CreatedAt, o.UpdatedAt = State(state), millis(created), millis(updated)
			onboardings = append(onboardings, o)
		}
		rows.Close()
		for _, o := range onboardings {
			raw, _ := json.Marshal(o)
			if _, err := kv.Put(ctx, Item{PK: onboardingsPK, SK: o.ID, Value: raw}, Condition{}); err != nil {
				return err
			}
		}
		if err := copyRows(ctx, tx, `SELECT onboarding_id, step, state, attempts, detail, started_at, updated_at FROM onboarding_steps`,
			func(scan func(...any) error) error {
				var st Step
				var state string
				var started, updated int64
				if err := scan(&st.OnboardingID, &st.Name, &state, &st.Attempts, &st.Detail, &started, &updated); err != nil {
					return err
				}
				st.State, st.Runs, st.StartedAt, st.UpdatedAt = StepState(state), 1, millis(started), millis(updated)
				raw, _ := json.Marshal(st)
				_, err := kv.Put(ctx, Item{PK: stepsPrefix + st.OnboardingID, SK: st.Name, Value: raw}, Condition{})
				return err
			}); err != nil {
			return err
		}
		if err := copyRows(ctx, tx, `SELECT key, state, object_id, started_at, updated_at FROM intents`, func(scan func(...any) error) error {
			var in Intent
			var started, updated int64
			if err := scan(&in.Key, &in.State, &in.ObjectID, &started, &updated); err != nil {
				return err
			}
			in.StartedAt, in.UpdatedAt = millis(started), millis(updated)
			raw, _ := json.Marshal(in)
			if _, err := kv.Put(ctx, Item{PK: intentsPK, SK: in.Key, Value: raw}, Condition{}); err != nil {
				return err
			}
			if in.ObjectID == "" {
				return nil
			}
			_, err := kv.Put(ctx, Item{PK: createdPrefix + lower(in.ObjectID), SK: in.Key, Value: []byte("{}")}, Condition{})
			return err
		}); err != nil {
			return err
		}
		if err := copyRows(ctx, tx, `SELECT config_key, watermark, records, pages, updated_at FROM harvest_checkpoints`, func(scan func(...any) error) error {
			var cp Checkpoint
			var wm, updated int64
			if err := scan(&cp.Key, &wm, &cp.Records, &cp.Pages, &updated); err != nil {
				return err
			}
			cp.Watermark, cp.UpdatedAt = time.UnixMicro(wm).UTC(), millis(updated)
			raw, _ := json.Marshal(cp)
			_, err := kv.Put(ctx, Item{PK: checkpointsPK, SK: cp.Key, Value: raw}, Condition{})
			return err
		}); err != nil {
			return err
		}
		// Ids seen by committed pages (page 0 counts as committed).
		if err := copyRows(ctx, tx, `SELECT config_key, record_id, activity FROM harvest_seen`, func(scan func(...any) error) error {
			var key, id string
			var activity int64
			if err := scan(&key, &id, &activity); err != nil {
				return err
			}
			_, err := kv.Put(ctx, Item{PK: seenPrefix + key, SK: id, Value: []byte("{}"), Expires: time.UnixMicro(activity).Add(30 * time.Minute)}, Condition{})
			return err
		}); err != nil {
			return err
		}
		if err := copyRows(ctx, tx, `SELECT sink, position FROM harvest_sinks`, func(scan func(...any) error) error {
			var sink string
			var pos int64
			if err := scan(&sink, &pos); err != nil {
				return err
			}
			return st.SetSinkPosition(ctx, sink, pos)
		}); err != nil {
			return err
		}
		for _, table := range []string{"onboardings", "onboarding_steps", "intents", "harvest_checkpoints", "harvest_seen", "harvest_sinks", "harvest_leases"} {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+table); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyRows runs query and hands each row to fn; a table that does not
// exist (an even older state directory) is skipped.
func copyRows(ctx context.Context, q querier, query string, fn func(scan func(...any) error) error) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil // a missing table has nothing to carry over
	}
	var scanned [][]any
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
		scanned = append(scanned, vals)
	}
	rows.Close()
	for _, vals := range scanned {
		if err := fn(func(dest ...any) error { return assign(vals, dest) }); err != nil {
			return err
		}
	}
	return nil
}

// assign converts scanned values into dest, as database/sql would.
func assign(vals []any, dest []any) error {
	row := make([]any, len(vals))
	copy(row, vals)
	for i, d := range dest {
		switch p := d.(type) {
		case *string:
			switch v := row[i].(type) {
			case string:
				*p = v
			case []byte:
				*p = string(v)
			}
		case *int64:
			if v, ok := row[i].(int64); ok {
				*p = v
			}
		case *int:
			if v, ok := row[i].(int64); ok {
				*p = int(v)
			}
		}
	}
	return nil
}
