package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Intent implements Intents.
func (s *Store) Intent(ctx context.Context, key string) (Intent, bool, error) {
	it, err := s.kv.Get(ctx, intentsPK, key)
	if errors.Is(err, ErrNotFound) {
		return Intent{}, false, nil
	}
	if err != nil {
		return Intent{}, false, err
	}
	in, err := intentFrom(it)
	return in, err == nil, err
}

func intentFrom(it Item) (Intent, error) {
	var in Intent
	err := decode(it.Value, &in)
	in.Key, in.Version = it.SK, it.Version
	return in, err
}

// IntentKeysFor implements Intents. Object ids are compared in any case.
func (s *Store) IntentKeysFor(ctx context.Context, objectID string) ([]string, error) {
	items, err := s.kv.Query(ctx, createdPrefix+lower(objectID), "")
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(items))
	for _, it := range items {
		keys = append(keys, it.SK)
	}
	return keys, nil
}

// ClaimIntent implements Intents: one of any number of concurrent claimers
// creates the intent.
func (s *Store) ClaimIntent(ctx context.Context, key string, now time.Time) (Intent, bool, error) {
	return s.claim(ctx, key, now, Condition{IfAbsent: true})
}

// TakeOverIntent implements Intents: one of any number of concurrent
// takers replaces the stale intent.
func (s *Store) TakeOverIntent(ctx context.Context, stale Intent, now time.Time) (Intent, bool, error) {
	return s.claim(ctx, stale.Key, now, Condition{IfVersion: stale.Version})
}

func (s *Store) claim(ctx context.Context, key string, now time.Time, cond Condition) (Intent, bool, error) {
	in := Intent{Key: key, State: IntentPending, StartedAt: now.UTC(), UpdatedAt: now.UTC()}
	raw, _ := json.Marshal(in)
	it, err := s.kv.Put(ctx, Item{PK: intentsPK, SK: key, Value: raw}, cond)
	switch {
	case err == nil:
		in.Version = it.Version
		return in, true, nil
	case errors.Is(err, ErrConflict):
		cur, held, err := s.Intent(ctx, key)
		if err == nil && !held {
			// Released in between: the caller decides again.
			return Intent{}, false, ErrConflict
		}
		return cur, false, err
	}
	return Intent{}, false, err
}

// CompleteIntent implements Intents. The reverse record (object → key) is
// written first: the object was created by this key's create whether or not
// the completion below is recorded before a crash.
// Where the KV has transactions (SQLite), both writes commit together, in
// one fsync.
func (s *Store) CompleteIntent(ctx context.Context, key, objectID string, now time.Time) error {
	if t, ok := s.kv.(Transactor); ok {
		return t.Atomically(ctx, func(kv KV) error { return (&Store{kv: kv, now: s.now}).completeIntent(ctx, key, objectID, now) })
	}
	return s.completeIntent(ctx, key, objectID, now)
}

func (s *Store) completeIntent(ctx context.Context, key, objectID string, now time.Time) error {
	if _, err := s.kv.Put(ctx, Item{PK: createdPrefix + lower(objectID), SK: key, Value: []byte("{}")}, Condition{}); err != nil {
		return err
	}
	_, err := s.update(ctx, intentsPK, key, func(raw []byte) ([]byte, time.Time, error) {
		var in Intent
		if err := decode(raw, &in); err != nil {
			return nil, time.Time{}, err
		}
		if in.StartedAt.IsZero() {
			in.StartedAt = now.UTC()
		}
		in.State, in.ObjectID, in.UpdatedAt = IntentDone, objectID, now.UTC()
		out, err := json.Marshal(in)
		return out, time.Time{}, err
	})
	return err
}

// ReleaseIntent implements Intents.
func (s *Store) ReleaseIntent(ctx context.Context, key string) error {
	return s.kv.Delete(ctx, intentsPK, key, Condition{})
}

var _ Intents = (*Store)(nil)
