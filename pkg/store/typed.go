package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Store is everything ctsync remembers, on a KV. It holds no state of its
// own: any number of Stores in any number of processes may share one KV.
type Store struct {
	kv  KV
	now func() time.Time
}

// New returns a store on kv.
func New(kv KV) *Store { return &Store{kv: kv, now: time.Now} }

// WithClock returns a copy of s that reads time from now (tests).
func (s *Store) WithClock(now func() time.Time) *Store { c := *s; c.now = now; return &c }

// KV returns the store's KV.
func (s *Store) KV() KV { return s.kv }

// Partitions. Sort keys are the natural ids; backends escape what their
// keys cannot hold.
const (
	onboardingsPK = "onboarding"
	stepsPrefix   = "steps:"
	intentsPK     = "intent"
	createdPrefix = "created:" // the reverse of an intent: object id → keys
	checkpointsPK = "checkpoint"
	seenPrefix    = "seen:"
	leasesPK      = "lease"
	sinksPK       = "sink"
	pairsPK       = "pair"
	handledPrefix = "handled:" // messages the router acknowledged, by correlation
	intakePK      = "intake"   // idempotency keys of intake requests → onboarding id
)

// contention bounds how often a read-modify-write retries after losing a
// compare-and-swap: a few writers on one item settle within a few rounds.
const contention = 50

// update reads the item, lets fn change its value and writes it back only
// if nobody wrote in between, reading again when someone did. fn sees nil
// for an absent item; returning errSkip leaves the item as it is.
func (s *Store) update(ctx context.Context, pk, sk string, fn func(cur []byte) ([]byte, time.Time, error)) (Item, error) {
	for attempt := range contention {
		it, err := s.kv.Get(ctx, pk, sk)
		cond := Condition{IfVersion: it.Version}
		switch {
		case errors.Is(err, ErrNotFound):
			it, cond = Item{}, Condition{IfAbsent: true}
		case err != nil:
			return Item{}, err
		}
		value, expires, err := fn(it.Value)
		if errors.Is(err, errSkip) {
			return it, nil
		}
		if err != nil {
			return Item{}, err
		}
		written, err := s.kv.Put(ctx, Item{PK: pk, SK: sk, Value: value, Expires: expires}, cond)
		if errors.Is(err, ErrConflict) {
			backOff(ctx, attempt)
			continue
		}
		return written, err
	}
	return Item{}, fmt.Errorf("update %s/%s: %w after %d attempts (too many concurrent writers)", pk, sk, ErrConflict, contention)
}

var errSkip = errors.New("no change")

// backOff spreads writers that lost a compare-and-swap: a few milliseconds,
// more for each loss, with jitter, so they stop colliding.
func backOff(ctx context.Context, attempt int) {
	d := time.Duration(1+rand.IntN(2<<min(attempt, 6))) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func decode(raw []byte, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

func lower(s string) string { return strings.ToLower(s) }
