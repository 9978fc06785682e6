package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/pkg/localdb"
)

// Embedded implements the store interfaces in the local SQLite database.
type Embedded struct {
	db *sql.DB
}

const embeddedSchema = `
CREATE TABLE IF NOT EXISTS onboardings (
	id             TEXT PRIMARY KEY,
	source_tenant  TEXT NOT NULL DEFAULT '',
	target_tenant  TEXT NOT NULL DEFAULT '',
	name           TEXT NOT NULL DEFAULT '',
	users          TEXT NOT NULL DEFAULT '[]',
	groups_json    TEXT NOT NULL DEFAULT '[]',
	requested_by   TEXT NOT NULL DEFAULT '',
	sp_id          TEXT NOT NULL DEFAULT '',
	app_id         TEXT NOT NULL DEFAULT '',
	app_role_id    TEXT NOT NULL DEFAULT '',
	job_id         TEXT NOT NULL DEFAULT '',
	state          TEXT NOT NULL DEFAULT 'requested',
	step           TEXT NOT NULL DEFAULT '',
	last_event     TEXT NOT NULL DEFAULT '',
	detail         TEXT NOT NULL DEFAULT '',
	remedy         TEXT NOT NULL DEFAULT '',
	job_status     TEXT NOT NULL DEFAULT '',
	sync_state     TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS onboardings_updated ON onboardings(updated_at);
CREATE TABLE IF NOT EXISTS onboarding_steps (
	onboarding_id TEXT NOT NULL,
	step          TEXT NOT NULL,
	state         TEXT NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	runs          INTEGER NOT NULL DEFAULT 0,
	detail        TEXT NOT NULL DEFAULT '',
	took_ms       INTEGER NOT NULL DEFAULT 0,
	started_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (onboarding_id, step)
);
CREATE TABLE IF NOT EXISTS intents (
	key        TEXT PRIMARY KEY,
	state      TEXT NOT NULL,
	object_id  TEXT NOT NULL DEFAULT '',
	started_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
`

// columnsAdded are columns later versions added to existing tables.
var columnsAdded = []struct{ table, column, def string }{
	{"onboardings", "sync_state", "TEXT NOT NULL DEFAULT ''"},
	{"onboarding_steps", "runs", "INTEGER NOT NULL DEFAULT 0"},
	{"onboarding_steps", "took_ms", "INTEGER NOT NULL DEFAULT 0"},
}

// NewEmbedded creates the store's tables in db if needed.
func NewEmbedded(db *sql.DB) (*Embedded, error) {
	if _, err := db.Exec(embeddedSchema); err != nil {
		return nil, fmt.Errorf("create store tables: %w", err)
	}
	for _, c := range columnsAdded {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&n); err != nil {
			return nil, fmt.Errorf("inspect %s: %w", c.table, err)
		}
		if n == 0 {
			if _, err := db.Exec(`ALTER TABLE ` + c.table + ` ADD COLUMN ` + c.column + ` ` + c.def); err != nil {
				return nil, fmt.Errorf("add %s.%s: %w", c.table, c.column, err)
			}
		}
	}
	if _, err := db.Exec(harvestSchema); err != nil {
		return nil, fmt.Errorf("create harvest tables: %w", err)
	}
	return &Embedded{db: db}, nil
}

// DB returns the underlying database.
func (s *Embedded) DB() *sql.DB { return s.db }

func (s *Embedded) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// SaveOnboarding implements Progress.
func (s *Embedded) SaveOnboarding(ctx context.Context, o Onboarding) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return mergeOnboarding(ctx, tx, o) })
}

// SaveProgress implements Progress.
func (s *Embedded) SaveProgress(ctx context.Context, updates ...Update) error {
	if len(updates) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return SaveProgressTx(ctx, tx, updates...) })
}

// SaveProgressTx applies updates inside tx: the embedded queue's settlement
// transaction, so a step's progress and its settlement are one write.
func SaveProgressTx(ctx context.Context, tx *sql.Tx, updates ...Update) error {
	for _, u := range updates {
		if st := u.Step; st != nil {
			now := st.UpdatedAt
			if now.IsZero() {
				now = time.Now()
			}
			_, err := tx.ExecContext(ctx, `
				INSERT INTO onboarding_steps (onboarding_id, step, state, attempts, runs, detail, took_ms, started_at, updated_at)
				VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)
				ON CONFLICT (onboarding_id, step) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, runs = runs + 1,
					detail = CASE WHEN excluded.detail = '' THEN detail ELSE excluded.detail END, took_ms = excluded.took_ms,
					updated_at = excluded.updated_at`,
				st.OnboardingID, st.Name, string(st.State), st.Attempts, st.Detail, st.Took.Milliseconds(), localdb.Millis(now), localdb.Millis(now))
			if err != nil {
				return err
			}
		}
		if u.Onboarding != nil {
			if err := mergeOnboarding(ctx, tx, *u.Onboarding); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeOnboarding creates the onboarding or merges o into it: empty fields
// never overwrite known ones; a state, when given, comes with its step,
// detail and remedy, and a completed onboarding keeps its verdict against a
// redelivered earlier step (running or waiting).
func mergeOnboarding(ctx context.Context, tx *sql.Tx, o Onboarding) error {
	now := localdb.Millis(time.Now())
	if !o.UpdatedAt.IsZero() {
		now = localdb.Millis(o.UpdatedAt)
	}
	keep := `state = 'completed' AND ? IN ('running', 'waiting')`
	state := string(o.State)
	_, err := tx.ExecContext(ctx, `
		INSERT INTO onboardings (id, source_tenant, target_tenant, name, users, groups_json, requested_by, sp_id, app_id, app_role_id, job_id,
			state, step, last_event, detail, remedy, job_status, sync_state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(NULLIF(?, ''), 'requested'), ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			source_tenant = COALESCE(NULLIF(excluded.source_tenant, ''), source_tenant),
			target_tenant = COALESCE(NULLIF(excluded.target_tenant, ''), target_tenant),
			name          = COALESCE(NULLIF(excluded.name, ''), name),
			users         = CASE WHEN excluded.users = '[]' THEN users ELSE excluded.users END,
			groups_json   = CASE WHEN excluded.groups_json = '[]' THEN groups_json ELSE excluded.groups_json END,
			requested_by  = COALESCE(NULLIF(excluded.requested_by, ''), requested_by),
			sp_id         = COALESCE(NULLIF(excluded.sp_id, ''), sp_id),
			app_id        = COALESCE(NULLIF(excluded.app_id, ''), app_id),
			app_role_id   = COALESCE(NULLIF(excluded.app_role_id, ''), app_role_id),
			job_id        = COALESCE(NULLIF(excluded.job_id, ''), job_id),
			last_event    = COALESCE(NULLIF(excluded.last_event, ''), last_event),
			job_status    = COALESCE(NULLIF(excluded.job_status, ''), job_status),
			sync_state    = COALESCE(NULLIF(excluded.sync_state, ''), sync_state),
			step   = CASE WHEN ? = '' OR `+keep+` THEN step ELSE excluded.step END,
			detail = CASE WHEN ? = '' OR `+keep+` THEN detail ELSE excluded.detail END,
			remedy = CASE WHEN ? = '' OR `+keep+` THEN remedy ELSE excluded.remedy END,
			state  = CASE WHEN ? = '' OR `+keep+` THEN state ELSE excluded.state END,
			updated_at    = excluded.updated_at`,
		o.ID, o.SourceTenantID, o.TargetTenantID, o.Name, jsonList(o.Users), jsonList(o.Groups), o.RequestedBy,
		o.ServicePrincipalID, o.AppID, o.AppRoleID, o.JobID, state, o.Step, o.LastEvent, o.Detail, o.Remedy, o.JobStatus, string(o.SyncState), now, now,
		state, state, state, state, state, state, state, state)
	return err
}

func scanOnboarding(row interface{ Scan(...any) error }) (Onboarding, error) {
	var o Onboarding
	var users, groups, state, syncState string
	var created, updated int64
	err := row.Scan(&o.ID, &o.SourceTenantID, &o.TargetTenantID, &o.Name, &users, &groups, &o.RequestedBy, &o.ServicePrincipalID,
		&o.AppID, &o.AppRoleID, &o.JobID, &state, &o.Step, &o.LastEvent, &o.Detail, &o.Remedy, &o.JobStatus, &syncState, &created, &updated)
	o.State, o.SyncState = State(state), SyncState(syncState)
	if err != nil {
		return o, err
	}
	_ = json.Unmarshal([]byte(users), &o.Users)
	_ = json.Unmarshal([]byte(groups), &o.Groups)
	o.CreatedAt, o.UpdatedAt = localdb.FromMillis(created), localdb.FromMillis(updated)
	return o, nil
}

const onboardingColumns = `id, source_tenant, target_tenant, name, users, groups_json, requested_by, sp_id, app_id, app_role_id, job_id,
	state, step, last_event, detail, remedy, job_status, sync_state, created_at, updated_at`

// GetOnboarding implements Progress.
func (s *Embedded) GetOnboarding(ctx context.Context, id string) (Onboarding, []Step, error) {
	o, err := scanOnboarding(s.db.QueryRowContext(ctx, `SELECT `+onboardingColumns+` FROM onboardings WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, nil, ErrNotFound
	}
	if err != nil {
		return o, nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT onboarding_id, step, state, attempts, runs, detail, took_ms, started_at, updated_at
		FROM onboarding_steps WHERE onboarding_id = ? ORDER BY started_at, step`, id)
	if err != nil {
		return o, nil, err
	}
	defer rows.Close()
	var steps []Step
	for rows.Next() {
		var st Step
		var state string
		var started, updated, took int64
		if err := rows.Scan(&st.OnboardingID, &st.Name, &state, &st.Attempts, &st.Runs, &st.Detail, &took, &started, &updated); err != nil {
			return o, nil, err
		}
		st.State, st.Took = StepState(state), time.Duration(took)*time.Millisecond
		st.StartedAt, st.UpdatedAt = localdb.FromMillis(started), localdb.FromMillis(updated)
		steps = append(steps, st)
	}
	return o, steps, rows.Err()
}

// ListOnboardings implements Progress, most recently updated first.
func (s *Embedded) ListOnboardings(ctx context.Context, limit int) ([]Onboarding, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+onboardingColumns+` FROM onboardings ORDER BY updated_at DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Onboarding
	for rows.Next() {
		o, err := scanOnboarding(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Intent implements Intents.
func (s *Embedded) Intent(ctx context.Context, key string) (Intent, bool, error) {
	in, err := scanIntent(s.db.QueryRowContext(ctx, `SELECT key, state, object_id, started_at, updated_at FROM intents WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Intent{}, false, nil
	}
	return in, err == nil, err
}

// IntentKeysFor implements Intents.
func (s *Embedded) IntentKeysFor(ctx context.Context, objectID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key FROM intents WHERE object_id = ? COLLATE NOCASE ORDER BY key`, objectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func scanIntent(row interface{ Scan(...any) error }) (Intent, error) {
	var in Intent
	var started, updated int64
	err := row.Scan(&in.Key, &in.State, &in.ObjectID, &started, &updated)
	in.StartedAt, in.UpdatedAt = localdb.FromMillis(started), localdb.FromMillis(updated)
	return in, err
}

// ClaimIntent implements Intents.
func (s *Embedded) ClaimIntent(ctx context.Context, key string, now time.Time) (Intent, bool, error) {
	var in Intent
	var claimed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO intents (key, state, started_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			key, IntentPending, localdb.Millis(now), localdb.Millis(now))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		in, err = scanIntent(tx.QueryRowContext(ctx, `SELECT key, state, object_id, started_at, updated_at FROM intents WHERE key = ?`, key))
		return err
	})
	return in, claimed, err
}

// CompleteIntent implements Intents.
func (s *Embedded) CompleteIntent(ctx context.Context, key, objectID string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO intents (key, state, object_id, started_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET state = excluded.state, object_id = excluded.object_id, updated_at = excluded.updated_at`,
		key, IntentDone, objectID, localdb.Millis(now), localdb.Millis(now))
	return err
}

// ReleaseIntent implements Intents.
func (s *Embedded) ReleaseIntent(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM intents WHERE key = ?`, key)
	return err
}
