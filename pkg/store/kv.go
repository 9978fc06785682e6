package store

import (
	"context"
	"errors"
	"time"
)

// KV is what every backend provides: items in partitions, each written
// alone, conditionally. It is deliberately the least the cloud services
// offer alike — single-item compare-and-swap (an ETag in Table Storage, a
// condition expression in DynamoDB, a version column in SQLite) — with no
// multi-item transactions, no global sequence and no range delete, so that
// many processes (four Function instances, forty Lambda instances) can share
// one store safely. Everything ctsync remembers is built on it once (Store).
type KV interface {
	// Get returns the item, or ErrNotFound. Expired items are returned:
	// whether expiry matters is the caller's business (a lease may be taken
	// over, a seen id forgotten); services delete lazily, if at all.
	Get(ctx context.Context, pk, sk string) (Item, error)
	// GetMany returns the items of pk that exist among sks, by sort key.
	GetMany(ctx context.Context, pk string, sks []string) (map[string]Item, error)
	// Query returns pk's items whose sort key starts with prefix, in sort
	// key order.
	Query(ctx context.Context, pk, prefix string) ([]Item, error)
	// Put writes it if cond holds and returns it with its new version; a
	// failed condition is ErrConflict.
	Put(ctx context.Context, it Item, cond Condition) (Item, error)
	// PutMany writes items unconditionally, as independent single puts
	// (SQLite in one transaction, the cloud services in parallel).
	PutMany(ctx context.Context, items []Item) error
	// Delete removes the item if cond holds (ErrConflict otherwise); an
	// absent item is no error unless cond asks for a version.
	Delete(ctx context.Context, pk, sk string, cond Condition) error
}

// Item is one stored item. Version changes with every write; Expires, when
// set, says when the item stops mattering (services may use it to clean up).
type Item struct {
	PK, SK  string
	Value   []byte
	Version string
	Expires time.Time
}

// Expired reports whether the item's expiry has passed at now.
func (it Item) Expired(now time.Time) bool { return !it.Expires.IsZero() && !now.Before(it.Expires) }

// Condition is a write's precondition; the zero value writes regardless.
type Condition struct {
	// IfAbsent writes only when no item exists under the key.
	IfAbsent bool
	// IfVersion writes only when the stored item has this version.
	IfVersion string
}

// ErrConflict means a write's condition did not hold: someone else wrote
// first. Read again and decide again.
var ErrConflict = errors.New("the item changed or exists (condition failed)")

// Transactor is implemented by a KV that can apply several writes as one
// (SQLite): the store then commits a page's seen ids with its checkpoint in
// one write. Cloud KVs do not implement it, and the store never relies on it
// for correctness.
type Transactor interface {
	Atomically(ctx context.Context, fn func(kv KV) error) error
}

// ExpiredDeleter is implemented by a KV that can drop a partition's expired
// items in one statement (SQLite); others are cleaned item by item.
type ExpiredDeleter interface {
	DeleteExpired(ctx context.Context, pk string, now time.Time) error
}
