package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Pair is a tenant pair's record, read on every host by the drift timer
// and by offboarding.
type Pair struct {
	SourceTenantID string `json:"sourceTenantId"`
	TargetTenantID string `json:"targetTenantId"`
	// Desired is the pair's desired configuration as `apply` last recorded it.
	Desired   json.RawMessage `json:"desired,omitempty"`
	AppliedAt time.Time       `json:"appliedAt,omitempty"`
	// Found is what the onboarding steps found before they changed
	// anything; nil for a pair onboarded before ctsync kept this record.
	Found *Found `json:"found,omitempty"`
	// Retired are the configurations offboarding took apart: the harvester
	// collects their logs once more, then drops them.
	Retired []Retired `json:"retired,omitempty"`
	// DriftReported is the drift the timer last reported (each as
	// "setting|expected|actual"), so that it alerts on what is new, once.
	DriftReported []string `json:"driftReported,omitempty"`
	Version       string   `json:"-"`
}

// Retired is an offboarded configuration.
type Retired struct {
	ServicePrincipalID string    `json:"servicePrincipalId"`
	At                 time.Time `json:"at"`
	// LastHarvest is when a harvest begun after At completed.
	LastHarvest time.Time `json:"lastHarvest,omitzero"`
}

// Found is the state of the policies ctsync touches, as it first found them.
// A nil field was never observed.
type Found struct {
	TargetPartnerExisted      *bool `json:"targetPartnerExisted,omitempty"`
	TargetIdentitySyncExisted *bool `json:"targetIdentitySyncExisted,omitempty"`
	TargetIdentitySyncAllowed *bool `json:"targetIdentitySyncAllowed,omitempty"`
	TargetInboundAutoRedeem   *bool `json:"targetInboundAutoRedeem,omitempty"`
	SourcePartnerExisted      *bool `json:"sourcePartnerExisted,omitempty"`
	SourceOutboundAutoRedeem  *bool `json:"sourceOutboundAutoRedeem,omitempty"`
}

func pairKey(source, target string) string { return lower(source) + "/" + lower(target) }

// GetPair returns the pair's record, if any.
func (s *Store) GetPair(ctx context.Context, source, target string) (Pair, bool, error) {
	it, err := s.kv.Get(ctx, pairsPK, pairKey(source, target))
	if errors.Is(err, ErrNotFound) {
		return Pair{SourceTenantID: lower(source), TargetTenantID: lower(target)}, false, nil
	}
	if err != nil {
		return Pair{}, false, err
	}
	var p Pair
	err = decode(it.Value, &p)
	p.Version = it.Version
	return p, err == nil, err
}

// UpdatePair changes the pair's record with fn, compare-and-swapped: fn
// may run again on a fresher record when another process wrote in between.
func (s *Store) UpdatePair(ctx context.Context, source, target string, fn func(p *Pair) error) (Pair, error) {
	var out Pair
	it, err := s.update(ctx, pairsPK, pairKey(source, target), func(raw []byte) ([]byte, time.Time, error) {
		p := Pair{SourceTenantID: lower(source), TargetTenantID: lower(target)}
		if err := decode(raw, &p); err != nil {
			return nil, time.Time{}, err
		}
		if err := fn(&p); err != nil {
			return nil, time.Time{}, err
		}
		out = p
		b, err := json.Marshal(p)
		return b, time.Time{}, err
	})
	out.Version = it.Version
	return out, err
}

// ListPairs returns every pair's record.
func (s *Store) ListPairs(ctx context.Context) ([]Pair, error) {
	items, err := s.kv.Query(ctx, pairsPK, "")
	if err != nil {
		return nil, err
	}
	out := make([]Pair, 0, len(items))
	for _, it := range items {
		var p Pair
		if err := decode(it.Value, &p); err != nil {
			return nil, err
		}
		p.Version = it.Version
		out = append(out, p)
	}
	return out, nil
}
