package store

import (
	"context"
	"encoding/json"
	"errors"

	"sort"
	"time"
)

// SaveOnboarding implements Progress.
func (s *Store) SaveOnboarding(ctx context.Context, o Onboarding) error {
	return s.mergeOnboarding(ctx, o)
}

// SaveProgress implements Progress.
func (s *Store) SaveProgress(ctx context.Context, updates ...Update) error {
	for _, u := range updates {
		if u.Step != nil {
			if err := s.saveStep(ctx, *u.Step); err != nil {
				return err
			}
		}
		if u.Onboarding != nil {
			if err := s.mergeOnboarding(ctx, *u.Onboarding); err != nil {
				return err
			}
		}
		if h := u.Handled; h != nil {
			if _, err := s.kv.Put(ctx, Item{PK: handledPrefix + h.Correlation, SK: h.Step + "/" + h.EventID, Value: []byte("{}")}, Condition{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// WasHandled reports whether the router acknowledged this message before:
// a queue without de-duplication (SQS) delivers a message, or a republished
// event, more than once.
func (s *Store) WasHandled(ctx context.Context, h Handled) (bool, error) {
	_, err := s.kv.Get(ctx, handledPrefix+h.Correlation, h.Step+"/"+h.EventID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) saveStep(ctx context.Context, st Step) error {
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = s.now()
	}
	_, err := s.update(ctx, stepsPrefix+st.OnboardingID, st.Name, func(cur []byte) ([]byte, time.Time, error) {
		var old Step
		if err := decode(cur, &old); err != nil {
			return nil, time.Time{}, err
		}
		next := st
		next.Runs = old.Runs + 1
		next.StartedAt = old.StartedAt
		if next.StartedAt.IsZero() {
			next.StartedAt = st.UpdatedAt
		}
		if next.Detail == "" {
			next.Detail = old.Detail
		}
		raw, err := json.Marshal(next)
		return raw, time.Time{}, err
	})
	return err
}

// mergeOnboarding creates the onboarding or merges o into it: empty fields
// never overwrite known ones; a state, when given, comes with its step,
// detail and remedy, and a completed onboarding keeps its verdict against a
// redelivered earlier step (running or waiting).
func (s *Store) mergeOnboarding(ctx context.Context, o Onboarding) error {
	now := o.UpdatedAt
	if now.IsZero() {
		now = s.now()
	}
	_, err := s.update(ctx, onboardingsPK, o.ID, func(raw []byte) ([]byte, time.Time, error) {
		var cur Onboarding
		if err := decode(raw, &cur); err != nil {
			return nil, time.Time{}, err
		}
		if raw == nil {
			cur = Onboarding{ID: o.ID, State: StateRequested, CreatedAt: now}
		}
		for _, f := range []struct {
			into *string
			v    string
		}{
			{&cur.SourceTenantID, o.SourceTenantID}, {&cur.TargetTenantID, o.TargetTenantID}, {&cur.Name, o.Name},
			{&cur.RequestedBy, o.RequestedBy}, {&cur.ServicePrincipalID, o.ServicePrincipalID}, {&cur.AppID, o.AppID},
			{&cur.AppRoleID, o.AppRoleID}, {&cur.JobID, o.JobID}, {&cur.LastEvent, o.LastEvent}, {&cur.JobStatus, o.JobStatus},
			{&cur.Drift, o.Drift}, {&cur.Kind, o.Kind},
		} {
			if f.v != "" {
				*f.into = f.v
			}
		}
		if len(o.Users) > 0 {
			cur.Users = o.Users
		}
		if len(o.Groups) > 0 {
			cur.Groups = o.Groups
		}
		if o.SyncState != "" {
			cur.SyncState = o.SyncState
		}
		keepVerdict := cur.State == StateCompleted && (o.State == StateRunning || o.State == StateWaiting)
		if o.State != "" && !keepVerdict {
			cur.State, cur.Step, cur.Detail, cur.Remedy = o.State, o.Step, o.Detail, o.Remedy
		} else if o.Remedy != "" {
			cur.Remedy = o.Remedy // what the monitor learned (drift) has its own remedy
		}
		cur.UpdatedAt = now
		out, err := json.Marshal(cur)
		return out, time.Time{}, err
	})
	return err
}

// GetOnboarding implements Progress.
func (s *Store) GetOnboarding(ctx context.Context, id string) (Onboarding, []Step, error) {
	it, err := s.kv.Get(ctx, onboardingsPK, id)
	if err != nil {
		return Onboarding{}, nil, err
	}
	var o Onboarding
	if err := decode(it.Value, &o); err != nil {
		return Onboarding{}, nil, err
	}
	items, err := s.kv.Query(ctx, stepsPrefix+id, "")
	if err != nil {
		return o, nil, err
	}
	steps := make([]Step, 0, len(items))
	for _, it := range items {
		var st Step
		if err := decode(it.Value, &st); err != nil {
			return o, nil, err
		}
		steps = append(steps, st)
	}
	sort.SliceStable(steps, func(i, j int) bool {
		if !steps[i].StartedAt.Equal(steps[j].StartedAt) {
			return steps[i].StartedAt.Before(steps[j].StartedAt)
		}
		return steps[i].Name < steps[j].Name
	})
	return o, steps, nil
}

// ListOnboardings implements Progress, most recently updated first.
func (s *Store) ListOnboardings(ctx context.Context, limit int) ([]Onboarding, error) {
	all, err := s.onboardings(ctx)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].UpdatedAt.After(all[j].UpdatedAt) })
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

func (s *Store) onboardings(ctx context.Context) ([]Onboarding, error) {
	items, err := s.kv.Query(ctx, onboardingsPK, "")
	if err != nil {
		return nil, err
	}
	out := make([]Onboarding, 0, len(items))
	for _, it := range items {
		var o Onboarding
		if err := decode(it.Value, &o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

var _ Progress = (*Store)(nil)
