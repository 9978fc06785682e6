package store

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"
)

// Configuration is a synchronization configuration whose logs are harvested.
type Configuration struct {
	SourceTenantID     string
	TargetTenantID     string
	ServicePrincipalID string
	JobID              string
	OnboardingID       string
	Name               string
	// RetiredAt is when offboarding took the configuration apart: one more
	// harvest collects its last records, then it leaves the list.
	RetiredAt time.Time
}

// Key identifies the configuration's checkpoint.
func (c Configuration) Key() string {
	return strings.ToLower(c.SourceTenantID) + "/" + strings.ToLower(c.ServicePrincipalID)
}

// Configurations lists every configuration an onboarding set up (known
// service principal and job), one per service principal.
func (s *Store) Configurations(ctx context.Context) ([]Configuration, error) {
	all, err := s.onboardings(ctx)
	if err != nil {
		return nil, err
	}
	pairs, err := s.ListPairs(ctx)
	if err != nil {
		return nil, err
	}
	retired := map[string]Retired{}
	for _, p := range pairs {
		for _, r := range p.Retired {
			retired[strings.ToLower(r.ServicePrincipalID)] = r
		}
	}
	byKey := map[string]Configuration{}
	for _, o := range all {
		if o.ServicePrincipalID == "" || o.JobID == "" {
			continue
		}
		c := Configuration{SourceTenantID: o.SourceTenantID, TargetTenantID: o.TargetTenantID, ServicePrincipalID: o.ServicePrincipalID,
			JobID: o.JobID, OnboardingID: o.ID, Name: o.Name}
		if r, ok := retired[strings.ToLower(o.ServicePrincipalID)]; ok {
			if !r.LastHarvest.IsZero() {
				continue // offboarded, and its last records collected
			}
			c.RetiredAt = r.At
		}
		if prev, ok := byKey[c.Key()]; ok && prev.OnboardingID > c.OnboardingID {
			continue // one per configuration, whichever onboarding; stable across runs
		}
		byKey[c.Key()] = c
	}
	out := make([]Configuration, 0, len(byKey))
	for _, c := range byKey {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// RetiredHarvested records that a harvest that began after c was retired
// completed: c leaves the harvester's list.
func (s *Store) RetiredHarvested(ctx context.Context, c Configuration, at time.Time) error {
	_, err := s.UpdatePair(ctx, c.SourceTenantID, c.TargetTenantID, func(p *Pair) error {
		for i := range p.Retired {
			if strings.EqualFold(p.Retired[i].ServicePrincipalID, c.ServicePrincipalID) && p.Retired[i].LastHarvest.IsZero() {
				p.Retired[i].LastHarvest = at
			}
		}
		return nil
	})
	return err
}

// Checkpoint is how far a configuration's logs were collected.
type Checkpoint struct {
	Key       string    `json:"-"`
	Watermark time.Time `json:"watermark"` // activityDateTime of the newest record delivered
	Records   int64     `json:"records"`
	Pages     int64     `json:"pages"` // pages committed so far
	UpdatedAt time.Time `json:"updatedAt"`
	// Pending are the ids the last committed page delivered. They travel
	// in the checkpoint (at most one page: $top ids) and become items of
	// their own when the next page commits from it; until then readers
	// take them from here. So only committed pages ever leave ids behind,
	// and a harvester that lost the race for a checkpoint leaves none.
	Pending []SeenRecord `json:"pending,omitempty"`
	Version string       `json:"-"`
}

// GetCheckpoint returns the configuration's checkpoint, if any.
func (s *Store) GetCheckpoint(ctx context.Context, key string) (Checkpoint, bool, error) {
	it, err := s.kv.Get(ctx, checkpointsPK, key)
	if errors.Is(err, ErrNotFound) {
		return Checkpoint{Key: key}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, err
	}
	var cp Checkpoint
	err = decode(it.Value, &cp)
	cp.Key, cp.Version = key, it.Version
	return cp, err == nil, err
}

// SeenRecord is a delivered record remembered inside the overlap window.
type SeenRecord struct {
	ID       string    `json:"id"`
	Activity time.Time `json:"a"`
}

// SeenAmong returns which of ids were delivered by the pages committed up
// to cp.
func (s *Store) SeenAmong(ctx context.Context, cp Checkpoint, ids []string) (map[string]bool, error) {
	items, err := s.kv.GetMany(ctx, seenPrefix+cp.Key, ids)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(items)+len(cp.Pending))
	for id := range items {
		seen[id] = true
	}
	for _, r := range cp.Pending {
		seen[r.ID] = true
	}
	return seen, nil
}

// PageCommit is everything one delivered page changes.
type PageCommit struct {
	Config Configuration
	// Prev is the checkpoint the page was read from.
	Prev      Checkpoint
	Watermark time.Time
	// Seen are the records the page delivered; they matter for Overlap
	// after their activity (the window re-read before each checkpoint).
	Seen    []SeenRecord
	Overlap time.Duration
	Records int
	// SinkPositions are positional sinks' positions after accepting the
	// page (local sinks only).
	SinkPositions map[string]int64
}

// CommitPage advances a configuration's checkpoint after its sinks
// accepted a page: first the previous page's seen ids become items of their
// own (one checkpoint holding every id of the overlap window would outgrow
// an item on a big tenant's first cycle), then the checkpoint, carrying this
// page's ids, is compare-and-swapped against Prev. ErrConflict means
// another harvester committed from Prev first; this one must stop. SQLite
// does it all in one transaction.
func (s *Store) CommitPage(ctx context.Context, c PageCommit) (Checkpoint, error) {
	if tx, ok := s.kv.(Transactor); ok {
		var cp Checkpoint
		err := tx.Atomically(ctx, func(kv KV) error {
			var err error
			cp, err = (&Store{kv: kv, now: s.now}).commitPage(ctx, c)
			return err
		})
		return cp, err
	}
	return s.commitPage(ctx, c)
}

func (s *Store) commitPage(ctx context.Context, c PageCommit) (Checkpoint, error) {
	key := c.Config.Key()
	items := make([]Item, 0, len(c.Prev.Pending))
	for _, r := range c.Prev.Pending {
		items = append(items, Item{PK: seenPrefix + key, SK: r.ID, Value: []byte("{}"), Expires: r.Activity.Add(c.Overlap)})
	}
	if err := s.kv.PutMany(ctx, items); err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{Key: key, Watermark: c.Prev.Watermark, Records: c.Prev.Records + int64(c.Records), Pages: c.Prev.Pages + 1,
		UpdatedAt: s.now().UTC(), Pending: c.Seen}
	if c.Watermark.After(cp.Watermark) {
		// Microseconds, as the filter on activityDateTime compares them;
		// a record at the cut is re-read and skipped as seen.
		cp.Watermark = c.Watermark.UTC().Truncate(time.Microsecond)
	}
	raw, _ := json.Marshal(cp)
	cond := Condition{IfVersion: c.Prev.Version}
	if c.Prev.Version == "" {
		cond = Condition{IfAbsent: true}
	}
	it, err := s.kv.Put(ctx, Item{PK: checkpointsPK, SK: key, Value: raw}, cond)
	if err != nil {
		return Checkpoint{}, err
	}
	cp.Version = it.Version
	for name, pos := range c.SinkPositions {
		if err := s.SetSinkPosition(ctx, name, pos); err != nil {
			return Checkpoint{}, err
		}
	}
	return cp, nil
}

// ForgetSeen drops a configuration's seen ids that lie before the overlap
// window (activity plus overlap before the given time): they will not be
// read again. The clock is the log's (the watermark), not the wall's, so a
// harvester that was stopped for a day forgets nothing it still needs.
func (s *Store) ForgetSeen(ctx context.Context, key string, before time.Time) error {
	pk := seenPrefix + key
	if d, ok := s.kv.(ExpiredDeleter); ok {
		return d.DeleteExpired(ctx, pk, before)
	}
	items, err := s.kv.Query(ctx, pk, "")
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Expired(before) {
			if err := s.kv.Delete(ctx, pk, it.SK, Condition{IfVersion: it.Version}); err != nil && !errors.Is(err, ErrConflict) {
				return err
			}
		}
	}
	return nil
}

// SinkPosition returns a positional sink's committed position.
func (s *Store) SinkPosition(ctx context.Context, sink string) (int64, bool, error) {
	it, err := s.kv.Get(ctx, sinksPK, sink)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var pos int64
	err = decode(it.Value, &pos)
	return pos, err == nil, err
}

// SetSinkPosition records a positional sink's position as committed.
func (s *Store) SetSinkPosition(ctx context.Context, sink string, pos int64) error {
	raw, _ := json.Marshal(pos)
	_, err := s.kv.Put(ctx, Item{PK: sinksPK, SK: sink, Value: raw}, Condition{})
	return err
}
