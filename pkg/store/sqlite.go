package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/ctsync/ctsync/pkg/localdb"
	"strconv"
	"strings"
	"time"
)

// SQLite is the local host's KV: a table in the state directory's database,
// beside the embedded queue, so a step's progress can commit in the same
// transaction as its settlement.
type SQLite struct {
	db *sql.DB
	q  querier
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS kv (
	pk      TEXT    NOT NULL,
	sk      TEXT    NOT NULL,
	value   BLOB    NOT NULL,
	version INTEGER NOT NULL,
	expires INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
`

// NewSQLite creates the KV's table in db if needed, carrying over what an
// earlier version of ctsync kept in its own tables.
func NewSQLite(db *sql.DB) (*SQLite, error) {
	if err := localdb.Schema(context.Background(), db, sqliteSchema); err != nil {
		return nil, fmt.Errorf("create store table: %w", err)
	}
	s := &SQLite{db: db, q: db}
	if err := s.migrate(context.Background()); err != nil {
		return nil, fmt.Errorf("carry over the earlier store: %w", err)
	}
	return s, nil
}

// InTx returns the KV inside tx: its writes commit or roll back with tx.
func (s *SQLite) InTx(tx *sql.Tx) KV { return &SQLite{db: s.db, q: tx} }

// Atomically implements Transactor.
func (s *SQLite) Atomically(ctx context.Context, fn func(kv KV) error) error {
	if _, inTx := s.q.(*sql.Tx); inTx {
		return fn(s)
	}
	return localdb.InTx(ctx, s.db, func(tx *sql.Tx) error { return fn(s.InTx(tx)) })
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func scanItem(row interface{ Scan(...any) error }, pk string) (Item, error) {
	it := Item{PK: pk}
	var version, expires int64
	if err := row.Scan(&it.SK, &it.Value, &version, &expires); err != nil {
		return Item{}, err
	}
	it.Version, it.Expires = strconv.FormatInt(version, 10), fromMicros(expires)
	return it, nil
}

// Get implements KV.
func (s *SQLite) Get(ctx context.Context, pk, sk string) (Item, error) {
	it, err := scanItem(s.q.QueryRowContext(ctx, `SELECT sk, value, version, expires FROM kv WHERE pk = ? AND sk = ?`, pk, sk), pk)
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, ErrNotFound
	}
	return it, err
}

// GetMany implements KV.
func (s *SQLite) GetMany(ctx context.Context, pk string, sks []string) (map[string]Item, error) {
	out := map[string]Item{}
	const chunk = 400 // well under SQLite's bound-parameter limit
	for start := 0; start < len(sks); start += chunk {
		part := sks[start:min(start+chunk, len(sks))]
		args := make([]any, 0, len(part)+1)
		args = append(args, pk)
		for _, sk := range part {
			args = append(args, sk)
		}
		if err := s.query(ctx, out, `SELECT sk, value, version, expires FROM kv WHERE pk = ? AND sk IN (?`+strings.Repeat(",?", len(part)-1)+`)`, pk, args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *SQLite) query(ctx context.Context, into map[string]Item, query, pk string, args ...any) error {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scanItem(rows, pk)
		if err != nil {
			return err
		}
		into[it.SK] = it
	}
	return rows.Err()
}

// Query implements KV.
func (s *SQLite) Query(ctx context.Context, pk, prefix string) ([]Item, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT sk, value, version, expires FROM kv WHERE pk = ? AND substr(sk, 1, ?) = ? ORDER BY sk`,
		pk, len(prefix), prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		it, err := scanItem(rows, pk)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Put implements KV.
func (s *SQLite) Put(ctx context.Context, it Item, cond Condition) (Item, error) {
	var version int64
	var err error
	switch {
	case cond.IfAbsent:
		err = s.q.QueryRowContext(ctx, `INSERT INTO kv (pk, sk, value, version, expires) VALUES (?, ?, ?, 1, ?)
			ON CONFLICT (pk, sk) DO NOTHING RETURNING version`, it.PK, it.SK, it.Value, micros(it.Expires)).Scan(&version)
	case cond.IfVersion != "":
		err = s.q.QueryRowContext(ctx, `UPDATE kv SET value = ?, version = version + 1, expires = ? WHERE pk = ? AND sk = ? AND version = ?
			RETURNING version`, it.Value, micros(it.Expires), it.PK, it.SK, cond.IfVersion).Scan(&version)
	default:
		err = s.q.QueryRowContext(ctx, `INSERT INTO kv (pk, sk, value, version, expires) VALUES (?, ?, ?, 1, ?)
			ON CONFLICT (pk, sk) DO UPDATE SET value = excluded.value, version = version + 1, expires = excluded.expires
			RETURNING version`, it.PK, it.SK, it.Value, micros(it.Expires)).Scan(&version)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, ErrConflict
	}
	if err != nil {
		return Item{}, err
	}
	it.Version = strconv.FormatInt(version, 10)
	return it, nil
}

// PutMany implements KV: one multi-row upsert per 500 items, in one
// transaction — a harvested page's seen ids are one statement, not 500.
func (s *SQLite) PutMany(ctx context.Context, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	const rows = 500 // 4 parameters each, well under SQLite's limit
	return s.Atomically(ctx, func(kv KV) error {
		q := kv.(*SQLite).q
		for start := 0; start < len(items); start += rows {
			chunk := items[start:min(start+rows, len(items))]
			var b strings.Builder
			b.WriteString(`INSERT INTO kv (pk, sk, value, version, expires) VALUES `)
			args := make([]any, 0, 4*len(chunk))
			for i, it := range chunk {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString("(?, ?, ?, 1, ?)")
				args = append(args, it.PK, it.SK, it.Value, micros(it.Expires))
			}
			b.WriteString(` ON CONFLICT (pk, sk) DO UPDATE SET value = excluded.value, version = version + 1, expires = excluded.expires`)
			if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete implements KV.
func (s *SQLite) Delete(ctx context.Context, pk, sk string, cond Condition) error {
	if cond.IfVersion == "" {
		_, err := s.q.ExecContext(ctx, `DELETE FROM kv WHERE pk = ? AND sk = ?`, pk, sk)
		return err
	}
	res, err := s.q.ExecContext(ctx, `DELETE FROM kv WHERE pk = ? AND sk = ? AND version = ?`, pk, sk, cond.IfVersion)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// DeleteExpired implements ExpiredDeleter.
func (s *SQLite) DeleteExpired(ctx context.Context, pk string, before time.Time) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM kv WHERE pk = ? AND expires != 0 AND expires <= ?`, pk, micros(before))
	return err
}

var (
	_ KV             = (*SQLite)(nil)
	_ Transactor     = (*SQLite)(nil)
	_ ExpiredDeleter = (*SQLite)(nil)
)
