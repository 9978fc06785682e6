package store

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/ctsync/ctsync/pkg/localdb"
	"strings"
	"time"
)

// Records are the provisioning records the local host collected, for
// `ctsync logs`: a sink of the harvester (not state), kept in the state
// directory's database. The cloud hosts write records to Blob Storage or S3
// instead.
type Records struct{ db *sql.DB }

const recordsSchema = `
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

// NewRecords creates the records table in db if needed.
func NewRecords(db *sql.DB) (*Records, error) {
	if err := localdb.Schema(context.Background(), db, recordsSchema); err != nil {
		return nil, fmt.Errorf("create records table: %w", err)
	}
	return &Records{db: db}, nil
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
func (s *Records) InsertRecords(ctx context.Context, recs []Record) error {
	return localdb.InTx(ctx, s.db, func(tx *sql.Tx) error {
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
func (s *Records) LastRecordSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM provisioning_records`).Scan(&seq)
	return seq.Int64, err
}

// DeleteRecordsAfter removes records stored after seq (a page that was
// accepted but never checkpointed).
func (s *Records) DeleteRecordsAfter(ctx context.Context, seq int64) error {
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
func (s *Records) QueryRecords(ctx context.Context, q RecordQuery) ([]Record, error) {
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
