package steps

import (
	"context"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/store"
)

// remember records in the pair's record what a step found before it
// changes anything, so that offboarding can put back what was there. Only
// the first observation of a pair counts: a field already recorded is never
// overwritten, so ctsync's own earlier changes (a partner it created, a flag
// it turned on) are never mistaken for what the tenant had. The record is
// read first and written only when something new is learned, so a re-run
// costs a read.
func (s *Steps) remember(ctx context.Context, in events.Onboarding, learn func(f *store.Found) bool) error {
	pair, _, err := s.intents.GetPair(ctx, in.SourceTenantID, in.TargetTenantID)
	if err != nil {
		return err
	}
	probe := store.Found{}
	if pair.Found != nil {
		probe = *pair.Found
	}
	if !learn(&probe) {
		return nil
	}
	_, err = s.intents.UpdatePair(ctx, in.SourceTenantID, in.TargetTenantID, func(p *store.Pair) error {
		if p.Found == nil {
			p.Found = &store.Found{}
		}
		learn(p.Found)
		return nil
	})
	return err
}

// once sets *field to v unless it was recorded before; it reports whether
// it set it.
func once(field **bool, v bool) bool {
	if *field != nil {
		return false
	}
	*field = &v
	return true
}
