package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/localdb"
)

// harvestSchema holds the harvester's state: a checkpoint per configuration,
// the ids already delivered inside the overlap window, each sink's committed
// position, the collected records themselves (the embedded sink) and a lease
// so only one harvest runs at a time.
const harvestSchema = `
CREATE TABLE IF NOT EXISTS harvest_checkpoints (
	config_key    TEXT PRIMARY KEY,
	source_tenant TEXT NOT NULL,
	sp_id         TEXT NOT NULL,
	watermark     INTEGER NOT NULL,
	records       INTEGER NOT NULL DEFAULT 0,
	pages         INTEGER NOT NULL DEFAULT 0,
	updated_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS harvest_seen (
	config_key TEXT NOT NULL,
	record_id  TEXT NOT NULL,
	activity   INTEGER NOT NULL,
	PRIMARY KEY (config_key, record_id)
);
CREATE INDEX IF NOT EXISTS harvest_seen_activity ON harvest_seen(config_key, activity);
CREATE TABLE IF NOT EXISTS harvest_sinks (
	sink     TEXT PRIMARY KEY,
	position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS harvest_leases (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS provisioning_records (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	record_id     TEXT NOT NULL UNIQUE,
	source_tenant TEXT NOT NULL,
	sp_id         TEXT NOT NULL,
	job_id        TEXT NOT NULL,
	activity      INTEGER NOT NULL,
	status        TEXT NOT NULL,
	action        TEXT NOT NULL,
	source_id     TEXT NOT NULL,
	source_name   TEXT NOT NULL,
	target_id     TEXT NOT NULL,
	error_code    TEXT NOT NULL,
	reason        TEXT NOT NULL,
	raw           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS provisioning_records_sp ON provisioning_records(sp_id, activity);
CREATE INDEX IF NOT EXISTS provisioning_records_status ON provisioning_records(status, activity);
CREATE INDEX IF NOT EXISTS provisioning_records_activity ON provisioning_records(activity);
`

// Configuration is a synchronization configuration whose logs are harvested.
type Configuration struct {
	SourceTenantID     string
	ServicePrincipalID string
	JobID              string
	OnboardingID       string
	Name               string
}

// Key identifies the configuration's checkpoint.
func (c Configuration) Key() string {
	return strings.ToLower(c.SourceTenantID) + "/" + strings.ToLower(c.ServicePrincipalID)
}

// Configurations lists every configuration an onboarding set up (known
// service principal and job), one per service principal.
func (s *Embedded) Configurations(ctx context.Context) ([]Configuration, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT source_tenant, sp_id, MAX(job_id), MAX(id), MAX(name) FROM onboardings
		WHERE sp_id != '' AND job_id != '' GROUP BY lower(source_tenant), lower(sp_id) ORDER BY source_tenant, sp_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Configuration
	for rows.Next() {
		var c Configuration
		if err := rows.Scan(&c.SourceTenantID, &c.ServicePrincipalID, &c.JobID, &c.OnboardingID, &c.Name); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Checkpoint is how far a configuration's logs were collected.
type Checkpoint struct {
	Key       string
	Watermark time.Time // activityDateTime of the newest record delivered
	Records   int64
	Pages     int64
	UpdatedAt time.Time
}

// GetCheckpoint returns the configuration's checkpoint, if any.
func (s *Embedded) GetCheckpoint(ctx context.Context, key string) (Checkpoint, bool, error) {
	var cp Checkpoint
	var wm, up int64
	err := s.db.QueryRowContext(ctx, `SELECT config_key, watermark, records, pages, updated_at FROM harvest_checkpoints WHERE config_key = ?`, key).
		Scan(&cp.Key, &wm, &cp.Records, &cp.Pages, &up)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, err
	}
	cp.Watermark, cp.UpdatedAt = time.UnixMicro(wm).UTC(), localdb.FromMillis(up)
	return cp, true, nil
}

// SeenAmong returns which of ids were already delivered for the configuration.
func (s *Embedded) SeenAmong(ctx context.Context, key string, ids []string) (map[string]bool, error) {
	seen := map[string]bool{}
	const chunk = 400 // stay well under SQLite's bound-parameter limit
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := make([]any, 0, len(part)+1)
		args = append(args, key)
		for _, id := range part {
			args = append(args, id)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT record_id FROM harvest_seen WHERE config_key = ? AND record_id IN (?`+
			strings.Repeat(",?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			seen[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return seen, nil
}

// SeenRecord is a delivered record remembered inside the overlap window.
type SeenRecord struct {
	ID       string
	Activity time.Time
}

// PageCommit is everything one delivered page changes, committed at once.
type PageCommit struct {
	Config    Configuration
	Watermark time.Time
	Seen      []SeenRecord
	// ForgetBefore drops remembered ids older than this: they lie before
	// the overlap window and will not be read again.
	ForgetBefore time.Time
	Records      int
	// SinkPositions are the sinks' positions after accepting the page.
	SinkPositions map[string]int64
}

// CommitPage advances a configuration's checkpoint after its sinks accepted
// a page. Until it commits, a crash leaves the checkpoint where it was and
// the sinks are rewound to their committed positions on the next run.
func (s *Embedded) CommitPage(ctx context.Context, c PageCommit) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		key := c.Config.Key()
		_, err := tx.ExecContext(ctx, `INSERT INTO harvest_checkpoints (config_key, source_tenant, sp_id, watermark, records, pages, updated_at)
			VALUES (?, ?, ?, ?, ?, 1, ?)
			ON CONFLICT (config_key) DO UPDATE SET watermark = MAX(watermark, excluded.watermark), records = records + excluded.records,
				pages = pages + 1, updated_at = excluded.updated_at`,
			key, c.Config.SourceTenantID, c.Config.ServicePrincipalID, c.Watermark.UnixMicro(), c.Records, localdb.Millis(time.Now()))
		if err != nil {
			return err
		}
		if len(c.Seen) > 0 {
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO harvest_seen (config_key, record_id, activity) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, r := range c.Seen {
				if _, err := stmt.ExecContext(ctx, key, r.ID, r.Activity.UnixMicro()); err != nil {
					return err
				}
			}
		}
		if !c.ForgetBefore.IsZero() {
			if _, err := tx.ExecContext(ctx, `DELETE FROM harvest_seen WHERE config_key = ? AND activity < ?`, key, c.ForgetBefore.UnixMicro()); err != nil {
				return err
			}
		}
		for sink, pos := range c.SinkPositions {
			if _, err := tx.ExecContext(ctx, `INSERT INTO harvest_sinks (sink, position) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET position = excluded.position`,
				sink, pos); err != nil {
				return err
			}
		}
		return nil
	})
}

// SinkPosition returns a sink's committed position.
func (s *Embedded) SinkPosition(ctx context.Context, sink string) (int64, bool, error) {
	var pos int64
	err := s.db.QueryRowContext(ctx, `SELECT position FROM harvest_sinks WHERE sink = ?`, sink).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return pos, err == nil, err
}

// SetSinkPosition records a sink's position as committed.
func (s *Embedded) SetSinkPosition(ctx context.Context, sink string, pos int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO harvest_sinks (sink, position) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET position = excluded.position`, sink, pos)
	return err
}

// AcquireLease takes the named lease for holder until ttl passes, unless
// another holder has it; it returns the current holder when refused.
func (s *Embedded) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (string, bool, error) {
	var current string
	var ok bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := localdb.Millis(time.Now())
		var expires int64
		err := tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM harvest_leases WHERE name = ?`, name).Scan(&current, &expires)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && current != holder && expires > now {
			return nil
		}
		ok, current = true, holder
		_, err = tx.ExecContext(ctx, `INSERT INTO harvest_leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`, name, holder, now+ttl.Milliseconds())
		return err
	})
	return current, ok, err
}

// ReleaseLease gives the lease up if holder has it.
func (s *Embedded) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM harvest_leases WHERE name = ? AND holder = ?`, name, holder)
	return err
}

// Record is a collected provisioning record.
type Record struct {
	Seq                            int64
	ID                             string
	SourceTenantID                 string
	ServicePrincipalID, JobID      string
	Activity                       time.Time
	Status, Action                 string
	SourceID, SourceName, TargetID string
	ErrorCode, Reason              string
	Raw                            string
}

// InsertRecords stores records, ignoring ids already stored.
func (s *Embedded) InsertRecords(ctx context.Context, recs []Record) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO provisioning_records (record_id, source_tenant, sp_id, job_id, activity, status, action,
			source_id, source_name, target_id, error_code, reason, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range recs {
			if _, err := stmt.ExecContext(ctx, r.ID, r.SourceTenantID, r.ServicePrincipalID, r.JobID, r.Activity.UnixMicro(), r.Status, r.Action,
				r.SourceID, r.SourceName, r.TargetID, r.ErrorCode, r.Reason, r.Raw); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastRecordSeq is the embedded sink's position: the newest record's sequence number.
func (s *Embedded) LastRecordSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM provisioning_records`).Scan(&seq)
	return seq.Int64, err
}

// DeleteRecordsAfter removes records stored after seq (a page that was
// accepted but never checkpointed).
func (s *Embedded) DeleteRecordsAfter(ctx context.Context, seq int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM provisioning_records WHERE seq > ?`, seq)
	return err
}

// RecordQuery selects collected records; zero fields select everything.
type RecordQuery struct {
	ServicePrincipalID string
	Status             string
	Since              time.Time
	// User matches the source identity's id exactly or its display name
	// as a case-insensitive substring.
	User  string
	Limit int
}

// QueryRecords returns matching records, newest first.
func (s *Embedded) QueryRecords(ctx context.Context, q RecordQuery) ([]Record, error) {
	where := []string{"1 = 1"}
	var args []any
	if q.ServicePrincipalID != "" {
		where, args = append(where, "sp_id = ? COLLATE NOCASE"), append(args, q.ServicePrincipalID)
	}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, q.Status)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "activity >= ?"), append(args, q.Since.UnixMicro())
	}
	if q.User != "" {
		where, args = append(where, "(source_id = ? COLLATE NOCASE OR instr(lower(source_name), lower(?)) > 0)"), append(args, q.User, q.User)
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT seq, record_id, source_tenant, sp_id, job_id, activity, status, action, source_id, source_name,
		target_id, error_code, reason, raw FROM provisioning_records WHERE %s ORDER BY activity DESC, seq DESC LIMIT ?`, strings.Join(where, " AND ")),
		append(args, q.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var act int64
		if err := rows.Scan(&r.Seq, &r.ID, &r.SourceTenantID, &r.ServicePrincipalID, &r.JobID, &act, &r.Status, &r.Action, &r.SourceID,
			&r.SourceName, &r.TargetID, &r.ErrorCode, &r.Reason, &r.Raw); err != nil {
			return nil, err
		}
		r.Activity = time.UnixMicro(act).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
