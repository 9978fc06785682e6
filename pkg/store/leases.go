package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Lease gives one holder a named task (the harvest) for a short while. The
// holder renews it while it works; a holder that stops renewing (it crashed,
// or hangs) loses it when it expires, and the next taker takes it over at
// once. Expiry is checked here, never left to the service (DynamoDB's TTL
// deletes lazily; Table Storage has none).
type Lease struct {
	Name    string    `json:"-"`
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	version string
}

// ErrLeaseLost means the lease expired and someone else took it (or it was
// released): the holder must stop.
var ErrLeaseLost = errors.New("lease lost")

// AcquireLease takes the named lease for holder for ttl when it is free,
// expired, or already holder's. Refused, it returns the current lease (who
// holds it until when) and false.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, bool, error) {
	for range contention {
		now := s.now()
		it, err := s.kv.Get(ctx, leasesPK, name)
		cond := Condition{IfVersion: it.Version}
		switch {
		case errors.Is(err, ErrNotFound):
			cond = Condition{IfAbsent: true}
		case err != nil:
			return Lease{}, false, err
		default:
			var cur Lease
			if err := decode(it.Value, &cur); err != nil {
				return Lease{}, false, err
			}
			if cur.Holder != holder && now.Before(cur.Expires) {
				cur.Name, cur.version = name, it.Version
				return cur, false, nil
			}
		}
		l, err := s.writeLease(ctx, name, holder, now.Add(ttl), cond)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return l, err == nil, err
	}
	return Lease{}, false, fmt.Errorf("lease %s: %w", name, ErrConflict)
}

// RenewLease extends a held lease by ttl from now; ErrLeaseLost when it was
// taken over or released.
func (s *Store) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	renewed, err := s.writeLease(ctx, l.Name, l.Holder, s.now().Add(ttl), Condition{IfVersion: l.version})
	if errors.Is(err, ErrConflict) {
		return l, fmt.Errorf("%w: %s", ErrLeaseLost, l.Name)
	}
	return renewed, err
}

// ReleaseLease gives a held lease up; one taken over already is left alone.
func (s *Store) ReleaseLease(ctx context.Context, l Lease) error {
	err := s.kv.Delete(ctx, leasesPK, l.Name, Condition{IfVersion: l.version})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

func (s *Store) writeLease(ctx context.Context, name, holder string, expires time.Time, cond Condition) (Lease, error) {
	l := Lease{Name: name, Holder: holder, Expires: expires.UTC()}
	raw, _ := json.Marshal(l)
	it, err := s.kv.Put(ctx, Item{PK: leasesPK, SK: name, Value: raw, Expires: l.Expires}, cond)
	if err != nil {
		return Lease{}, err
	}
	l.version = it.Version
	return l, nil
}
