// Package localdb opens the embedded database that backs the local host's
// durable queue and store: one SQLite file under the state directory, written
// with full fsync so an acknowledged message or an advanced checkpoint
// survives a crash or power loss.
package localdb

import (
	"context"
	"database/sql"
	"fmt"
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
}

// Open opens (creating if needed) the database in dir.
func Open(dir string) (*sql.DB, error) { return OpenWith(dir, Options{}) }

// OpenWith opens (creating if needed) the database in dir with opts.
func OpenWith(dir string, opts Options) (*sql.DB, error) {
	if dir == "" {
		return nil, fmt.Errorf("state directory is empty (set CTSYNC_STATE_DIR)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
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
	dsn := "file:" + filepath.Join(dir, FileName) + "?" + q.Encode()
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
		return nil, fmt.Errorf("open %s: %w", filepath.Join(dir, FileName), err)
	}
	return db, nil
}

// Millis is the database's time representation: Unix milliseconds, UTC.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// FromMillis converts back.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
