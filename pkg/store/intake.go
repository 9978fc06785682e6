package store

import (
	"context"
	"errors"
)

// IntakeClaim returns the onboarding an intake request with this
// idempotency key started, if one did: a ticket system posting the same
// request twice gets the same onboarding back.
func (s *Store) IntakeClaim(ctx context.Context, key string) (string, bool, error) {
	it, err := s.kv.Get(ctx, intakePK, key)
	if errors.Is(err, ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(it.Value), true, nil
}

// ClaimIntake records that the request with this key started onboardingID.
// The first claim stands; a later one for the same key changes nothing.
func (s *Store) ClaimIntake(ctx context.Context, key, onboardingID string) error {
	_, err := s.kv.Put(ctx, Item{PK: intakePK, SK: key, Value: []byte(onboardingID)}, Condition{IfAbsent: true})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}
