package bus

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/localdb"
)

// Embedded is a durable queue in the local SQLite database: peek-lock with
// lock expiry, delivery counts, delayed delivery, de-duplication by message id
// and a dead-letter queue. It survives process crashes: an unsettled message
// becomes deliverable again when its lock expires.
type Embedded struct {
	db *sql.DB
	// MaxDeliveryCount dead-letters a message delivered this often without
	// being settled (Service Bus's default is 10).
	MaxDeliveryCount int
	// DedupWindow is how long a settled message id keeps blocking re-publication.
	DedupWindow time.Duration
	now         func() time.Time
	wake        chan struct{}
}

const embeddedSchema = `
CREATE TABLE IF NOT EXISTS bus_messages (
	seq            INTEGER PRIMARY KEY AUTOINCREMENT,
	id             TEXT    NOT NULL,
	queue          TEXT    NOT NULL,
	body           BLOB    NOT NULL,
	enqueued_at    INTEGER NOT NULL,
	visible_at     INTEGER NOT NULL,
	delivery_count INTEGER NOT NULL DEFAULT 0,
	lock_token     TEXT,
	locked_until   INTEGER NOT NULL DEFAULT 0,
	dead           INTEGER NOT NULL DEFAULT 0,
	dead_reason    TEXT,
	dead_description TEXT,
	dead_at        INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS bus_messages_queue_id ON bus_messages(queue, id);
CREATE INDEX IF NOT EXISTS bus_messages_due ON bus_messages(dead, visible_at, locked_until);
CREATE TABLE IF NOT EXISTS bus_settled (
	queue      TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	settled_at INTEGER NOT NULL,
	PRIMARY KEY (queue, id)
);
CREATE INDEX IF NOT EXISTS bus_settled_at ON bus_settled(settled_at);
`

// NewEmbedded creates the queue tables in db if needed.
func NewEmbedded(db *sql.DB) (*Embedded, error) {
	if err := localdb.Schema(context.Background(), db, embeddedSchema); err != nil {
		return nil, fmt.Errorf("create queue tables: %w", err)
	}
	return &Embedded{db: db, MaxDeliveryCount: 10, DedupWindow: 7 * 24 * time.Hour, now: time.Now, wake: make(chan struct{}, 1)}, nil
}

// UseClock makes the queue read time from now (tests drive it with a fake
// clock to cover hours of waits in milliseconds).
func (b *Embedded) UseClock(now func() time.Time) { b.now = now }

// Wake is signalled when messages may have become deliverable in this
// process (published, retried, resubmitted), so idle consumers need not poll
// fast. Messages published by other processes are found by polling.
func (b *Embedded) Wake() <-chan struct{} { return b.wake }

func (b *Embedded) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Embedded) publishTx(ctx context.Context, tx *sql.Tx, msgs []Outgoing) error {
	now := b.now()
	for _, m := range msgs {
		if m.ID == "" || m.Queue == "" {
			return fmt.Errorf("publish: message needs an id and a queue")
		}
		visible := now
		if m.NotBefore.After(now) {
			visible = m.NotBefore
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO bus_messages (id, queue, body, enqueued_at, visible_at)
			SELECT ?, ?, ?, ?, ?
			WHERE NOT EXISTS (SELECT 1 FROM bus_settled WHERE queue = ? AND id = ?)
			ON CONFLICT (queue, id) DO NOTHING`,
			m.ID, m.Queue, m.Body, localdb.Millis(now), localdb.Millis(visible), m.Queue, m.ID)
		if err != nil {
			return fmt.Errorf("publish %s to %s: %w", m.ID, m.Queue, err)
		}
	}
	return nil
}

func (b *Embedded) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := localdb.InTx(ctx, b.db, fn); err != nil {
		return err
	}
	b.signal()
	return nil
}

// Publish implements Bus.
func (b *Embedded) Publish(ctx context.Context, msgs ...Outgoing) error {
	if len(msgs) == 0 {
		return nil
	}
	return b.inTx(ctx, func(tx *sql.Tx) error { return b.publishTx(ctx, tx, msgs) })
}

// Receive implements Bus. Messages delivered MaxDeliveryCount times without
// settlement are dead-lettered here instead of being handed out again.
func (b *Embedded) Receive(ctx context.Context, queues []string, max int, lockFor time.Duration) ([]Delivery, error) {
	if max <= 0 {
		max = 1
	}
	now := localdb.Millis(b.now())
	where, args := "dead = 0 AND visible_at <= ? AND locked_until <= ?", []any{now, now}
	if len(queues) > 0 {
		where += " AND queue IN (?" + strings.Repeat(",?", len(queues)-1) + ")"
		for _, q := range queues {
			args = append(args, q)
		}
	}
	// An idle queue is polled often: look before taking the write lock.
	var due int
	if err := b.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM bus_messages WHERE `+where+` LIMIT 1)`, args...).Scan(&due); err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	var out []Delivery
	// Taking a message needs no fsync: its lock and delivery count matter
	// only while this machine runs (see localdb.Unsynced).
	err := localdb.Unsynced(ctx, b.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT seq, id, queue, body, delivery_count, enqueued_at FROM bus_messages WHERE `+
			where+` ORDER BY visible_at, seq LIMIT ?`, append(args, max)...)
		if err != nil {
			return err
		}
		type row struct {
			seq int64
			d   Delivery
		}
		var due []row
		for rows.Next() {
			var r row
			var enq int64
			if err := rows.Scan(&r.seq, &r.d.ID, &r.d.Queue, &r.d.Body, &r.d.DeliveryCount, &enq); err != nil {
				rows.Close()
				return err
			}
			r.d.EnqueuedAt = localdb.FromMillis(enq)
			due = append(due, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range due {
			if b.MaxDeliveryCount > 0 && r.d.DeliveryCount >= b.MaxDeliveryCount {
				_, err := tx.ExecContext(ctx, `UPDATE bus_messages SET dead = 1, dead_reason = ?, dead_description = ?, dead_at = ?, lock_token = NULL WHERE seq = ?`,
					MaxDeliveryCountExceeded, fmt.Sprintf("delivered %d times without being settled; the consumer may be crashing on it", r.d.DeliveryCount), now, r.seq)
				if err != nil {
					return err
				}
				continue
			}
			token := newToken()
			until := b.now().Add(lockFor)
			if _, err := tx.ExecContext(ctx, `UPDATE bus_messages SET delivery_count = delivery_count + 1, lock_token = ?, locked_until = ? WHERE seq = ?`,
				token, localdb.Millis(until), r.seq); err != nil {
				return err
			}
			r.d.DeliveryCount++
			r.d.LockToken = token
			r.d.LockedUntil = until
			out = append(out, r.d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	return out, nil
}

// settle runs fn if d's lock token is still the message's: a lock that
// expired but was not taken by another consumer may still be settled, as no
// one else can be working on the message.
func (b *Embedded) settle(ctx context.Context, d Delivery, fn func(tx *sql.Tx) error) error {
	return b.inTx(ctx, func(tx *sql.Tx) error {
		var token sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT lock_token FROM bus_messages WHERE queue = ? AND id = ? AND dead = 0`, d.Queue, d.ID).Scan(&token)
		if err == sql.ErrNoRows || (err == nil && token.String != d.LockToken) {
			return ErrLockLost
		}
		if err != nil {
			return err
		}
		return fn(tx)
	})
}

// Ack implements Bus: the produced messages and the settlement commit in one
// transaction.
func (b *Embedded) Ack(ctx context.Context, d Delivery, produced ...Outgoing) error {
	return b.settle(ctx, d, func(tx *sql.Tx) error { return b.ackTx(ctx, tx, d, produced) })
}

func (b *Embedded) ackTx(ctx context.Context, tx *sql.Tx, d Delivery, produced []Outgoing) error {
	if err := b.publishTx(ctx, tx, produced); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM bus_messages WHERE queue = ? AND id = ?`, d.Queue, d.ID); err != nil {
		return err
	}
	now := localdb.Millis(b.now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO bus_settled (queue, id, settled_at) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET settled_at = excluded.settled_at`, d.Queue, d.ID, now); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM bus_settled WHERE settled_at < ?`, now-b.DedupWindow.Milliseconds())
	return err
}

// Retry implements Bus. The copy replaces the message in place (same id and
// queue, the new body): nothing else can hold the id, and the delivery
// count starts again because the copy's body carries the attempts.
func (b *Embedded) Retry(ctx context.Context, d Delivery, next Outgoing) error {
	return b.settle(ctx, d, func(tx *sql.Tx) error { return b.retryTx(ctx, tx, d, next) })
}

func (b *Embedded) retryTx(ctx context.Context, tx *sql.Tx, d Delivery, next Outgoing) error {
	visible := b.now()
	if next.NotBefore.After(visible) {
		visible = next.NotBefore
	}
	_, err := tx.ExecContext(ctx, `UPDATE bus_messages SET body = ?, delivery_count = 0, lock_token = NULL, locked_until = 0, visible_at = ?
		WHERE queue = ? AND id = ?`, next.Body, localdb.Millis(visible), d.Queue, d.ID)
	return err
}

// DeadLetter implements Bus.
func (b *Embedded) DeadLetter(ctx context.Context, d Delivery, reason, description string, produced ...Outgoing) error {
	return b.settle(ctx, d, func(tx *sql.Tx) error { return b.deadLetterTx(ctx, tx, d, reason, description, produced) })
}

func (b *Embedded) deadLetterTx(ctx context.Context, tx *sql.Tx, d Delivery, reason, description string, produced []Outgoing) error {
	if err := b.publishTx(ctx, tx, produced); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE bus_messages SET dead = 1, dead_reason = ?, dead_description = ?, dead_at = ?, lock_token = NULL, locked_until = 0 WHERE queue = ? AND id = ?`,
		reason, description, localdb.Millis(b.now()), d.Queue, d.ID)
	return err
}

// Also returns a Settler that settles like b and runs also in the same
// transaction: a store in the same database commits what the step changed
// (its progress) with the settlement, one write instead of two.
func (b *Embedded) Also(also func(ctx context.Context, tx *sql.Tx) error) Settler {
	return alsoSettler{b: b, also: also}
}

type alsoSettler struct {
	b    *Embedded
	also func(ctx context.Context, tx *sql.Tx) error
}

func (s alsoSettler) with(ctx context.Context, fn func(tx *sql.Tx) error) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.also(ctx, tx)
	}
}

func (s alsoSettler) Ack(ctx context.Context, d Delivery, produced ...Outgoing) error {
	return s.b.settle(ctx, d, s.with(ctx, func(tx *sql.Tx) error { return s.b.ackTx(ctx, tx, d, produced) }))
}

func (s alsoSettler) Retry(ctx context.Context, d Delivery, next Outgoing) error {
	return s.b.settle(ctx, d, s.with(ctx, func(tx *sql.Tx) error { return s.b.retryTx(ctx, tx, d, next) }))
}

func (s alsoSettler) DeadLetter(ctx context.Context, d Delivery, reason, description string, produced ...Outgoing) error {
	return s.b.settle(ctx, d, s.with(ctx, func(tx *sql.Tx) error { return s.b.deadLetterTx(ctx, tx, d, reason, description, produced) }))
}

// RenewLock extends d's lock to lockFor from now, while its handler works
// (Service Bus's RenewMessageLock): locks stay short, so a consumer that
// dies holds its messages only briefly. ErrLockLost when the lock expired
// and another consumer took the message.
func (b *Embedded) RenewLock(ctx context.Context, d Delivery, lockFor time.Duration) (time.Time, error) {
	until := b.now().Add(lockFor)
	err := localdb.Unsynced(ctx, b.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE bus_messages SET locked_until = ? WHERE queue = ? AND id = ? AND lock_token = ? AND dead = 0`,
			localdb.Millis(until), d.Queue, d.ID, d.LockToken)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrLockLost
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	return until, nil
}

// Abandon releases d's lock so the message is delivered again at once, its
// delivery count kept (Service Bus's abandon): what a delivering host does
// when a handler answers with a failure.
func (b *Embedded) Abandon(ctx context.Context, d Delivery) error {
	return b.settle(ctx, d, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE bus_messages SET lock_token = NULL, locked_until = 0 WHERE queue = ? AND id = ?`, d.Queue, d.ID)
		return err
	})
}

// DeadLetters lists dead-lettered messages, oldest first.
func (b *Embedded) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT seq, id, queue, body, delivery_count, COALESCE(dead_reason,''), COALESCE(dead_description,''), COALESCE(dead_at,0)
		FROM bus_messages WHERE dead = 1 ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var dl DeadLetter
		var at int64
		if err := rows.Scan(&dl.Seq, &dl.ID, &dl.Queue, &dl.Body, &dl.DeliveryCount, &dl.Reason, &dl.Description, &at); err != nil {
			return nil, err
		}
		dl.At = localdb.FromMillis(at)
		out = append(out, dl)
	}
	return out, rows.Err()
}

// Resubmit moves a dead-lettered message back to its queue with a fresh
// delivery count and body, once whatever made it fail has been fixed.
func (b *Embedded) Resubmit(ctx context.Context, seq int64, body []byte) error {
	res, err := b.db.ExecContext(ctx, `UPDATE bus_messages SET dead = 0, dead_reason = NULL, dead_description = NULL, dead_at = NULL,
		delivery_count = 0, visible_at = ?, locked_until = 0, lock_token = NULL, body = ? WHERE seq = ? AND dead = 1`, localdb.Millis(b.now()), body, seq)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("no dead letter with sequence number %d", seq)
	}
	b.signal()
	return nil
}

// Discard deletes a dead letter that can never succeed (its onboarding was
// abandoned, or its event was malformed). Its id is remembered as settled,
// so a late duplicate of it is dropped rather than run.
func (b *Embedded) Discard(ctx context.Context, seq int64) error {
	return b.inTx(ctx, func(tx *sql.Tx) error {
		var queue, id string
		err := tx.QueryRowContext(ctx, `SELECT queue, id FROM bus_messages WHERE seq = ? AND dead = 1`, seq).Scan(&queue, &id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no dead letter with sequence number %d", seq)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM bus_messages WHERE seq = ?`, seq); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO bus_settled (queue, id, settled_at) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET settled_at = excluded.settled_at`,
			queue, id, localdb.Millis(b.now()))
		return err
	})
}

// Depth counts messages per state: ready (deliverable now), scheduled (due
// later), locked (being handled) and dead.
type Depth struct{ Ready, Scheduled, Locked, Dead int }

// Depth reports the queue's depth across all queues.
func (b *Embedded) Depth(ctx context.Context) (Depth, error) {
	now := localdb.Millis(b.now())
	var d Depth
	err := b.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(dead = 0 AND locked_until <= ? AND visible_at <= ?), 0),
		COALESCE(SUM(dead = 0 AND locked_until <= ? AND visible_at > ?), 0),
		COALESCE(SUM(dead = 0 AND locked_until > ?), 0),
		COALESCE(SUM(dead = 1), 0) FROM bus_messages`, now, now, now, now, now).Scan(&d.Ready, &d.Scheduled, &d.Locked, &d.Dead)
	return d, err
}

// NextDue returns when the earliest undelivered message becomes deliverable,
// or false when the queue holds nothing live.
func (b *Embedded) NextDue(ctx context.Context) (time.Time, bool, error) {
	var ms sql.NullInt64
	err := b.db.QueryRowContext(ctx, `SELECT MIN(MAX(visible_at, locked_until)) FROM bus_messages WHERE dead = 0`).Scan(&ms)
	if err != nil || !ms.Valid {
		return time.Time{}, false, err
	}
	return localdb.FromMillis(ms.Int64), true, nil
}

// NextVisible is when the earliest message nobody holds becomes deliverable:
// an idle consumer sleeps until then rather than a whole poll interval, so a
// short delay (a replication poll) is not stretched by the polling.
func (b *Embedded) NextVisible(ctx context.Context) (time.Time, bool, error) {
	var ms sql.NullInt64
	err := b.db.QueryRowContext(ctx, `SELECT MIN(visible_at) FROM bus_messages WHERE dead = 0 AND locked_until <= ?`,
		localdb.Millis(b.now())).Scan(&ms)
	if err != nil || !ms.Valid {
		return time.Time{}, false, err
	}
	return localdb.FromMillis(ms.Int64), true, nil
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
