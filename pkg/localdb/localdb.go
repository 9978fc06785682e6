// Package localdb opens the embedded database that backs the local host's
// durable queue and store: one SQLite file under the state directory, written
// with full fsync so an acknowledged message or an advanced checkpoint
// survives a crash or power loss.
package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
)

// FileName is the database file inside the state directory.
const FileName = "ctsync.db"

// Options tune the database for where it lives.
type Options struct {
	// NetworkFilesystem uses SQLite's rollback journal instead of its
	// write-ahead log, which needs memory shared by every process on one
	// machine and so is unsafe on a network share (Amazon EFS under Lambda,
	// Azure Files under Functions).
	NetworkFilesystem bool
	// ExistingOnly opens the database only if it exists, creating neither
	// it nor the directory (ErrNoState otherwise): what read-only commands
	// use, so looking leaves no trace.
	ExistingOnly bool
}

// ErrNoState means the state directory holds no database yet.
var ErrNoState = errors.New("no ctsync state here yet")

// Open opens (creating if needed) the database in dir.
func Open(dir string) (*sql.DB, error) { return OpenWith(dir, Options{}) }

// OpenWith opens (creating if needed) the database in dir with opts.
func OpenWith(dir string, opts Options) (*sql.DB, error) {
	if dir == "" {
		return nil, fmt.Errorf("state directory is empty (set CTSYNC_STATE_DIR)")
	}
	file := filepath.Join(dir, FileName)
	if opts.ExistingOnly {
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s)", ErrNoState, dir)
		}
	} else if err := create(dir, file); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	if opts.NetworkFilesystem {
		q.Add("_pragma", "journal_mode(DELETE)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Writers take the lock when the transaction begins, so two processes
	// (serve and a CLI command) queue up instead of failing mid-transaction.
	q.Set("_txlock", "immediate")
	dsn := "file:" + file + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: SQLite serializes writers anyway, and a single
	// connection keeps transactions in one process strictly ordered.
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	return db, nil
}

// create makes the state directory (0700) and the database file (0600)
// before SQLite opens it: the file holds user names and provisioning
// records, and SQLite gives its -wal and -shm files the database's mode.
// A file left more open by an older version is tightened.
func create(dir, file string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", file, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("restrict %s to its owner: %w", file, err)
		}
	}
	return nil
}

// Millis is the database's time representation: Unix milliseconds, UTC.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// FromMillis converts back.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// Schema runs DDL statements in one transaction: creating every table of a
// fresh state directory costs one fsync, not one per statement.
func Schema(ctx context.Context, db *sql.DB, ddl string) error {
	return InTx(ctx, db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, ddl)
		return err
	})
}

// Beginner starts transactions: a *sql.DB or one of its *sql.Conn.
type Beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// InTx runs fn in a transaction, committed when fn succeeds and rolled
// back when it fails.
func InTx(ctx context.Context, b Beginner, fn func(tx *sql.Tx) error) error {
	tx, err := b.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Unsynced runs fn in a transaction committed with synchronous=NORMAL
// instead of FULL: visible to every process at once, but not forced to disk
// before returning. Only for state whose loss in a power cut is harmless —
// a message lock (a lost lock is one that expired) and a delivery count —
// so that taking a message costs no fsync. Everything else commits with
// FULL; the next FULL commit makes these durable too.
func Unsynced(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	conn, err := db.Conn(ctx) // the connection for the pragma, the transaction and the reset
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous(NORMAL)"); err != nil {
		return err
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous(FULL)") }()
	return InTx(ctx, conn, fn)
}
