// Package offboard previews an offboarding the same way wherever it is
// asked for (ctsync offboard, POST /offboardings): the name the pair was
// onboarded with, what its onboarding found, and what taking it apart
// deletes and puts back — and a digest of that preview, so that a caller
// who read it can confirm exactly that, and nothing the tenants changed
// into since.
package offboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/plan"
	"github.com/ctsync/ctsync/pkg/store"
)

// ErrNoName means ctsync has no record of the pair and no name was given.
var ErrNoName = errors.New("ctsync has no record of onboarding this pair; name the configuration")

// Previewer reads both tenants and, when there is one, the store.
type Previewer struct {
	Dirs entra.Directories
	// Store holds the pairs' records; nil when there is no state yet.
	Store *store.Store
}

// Preview returns what offboarding the pair would do. It fills in r.Name
// from the pair's record when it was not given.
func (p Previewer) Preview(ctx context.Context, r *onboarding.OffboardRequest) (plan.Pair, error) {
	r.SourceTenantID, r.TargetTenantID = strings.ToLower(strings.TrimSpace(r.SourceTenantID)), strings.ToLower(strings.TrimSpace(r.TargetTenantID))
	r.Name = strings.TrimSpace(r.Name)
	var found *store.Found
	if p.Store != nil {
		pair, _, err := p.Store.GetPair(ctx, r.SourceTenantID, r.TargetTenantID)
		if err != nil {
			return plan.Pair{}, err
		}
		found = pair.Found
		if r.Name == "" {
			if r.Name, err = onboardedName(ctx, p.Store, pair); err != nil {
				return plan.Pair{}, err
			}
		}
	}
	if r.Name == "" {
		return plan.Pair{}, fmt.Errorf("%w (%s → %s)", ErrNoName, r.SourceTenantID, r.TargetTenantID)
	}
	return plan.Planner{Dirs: p.Dirs}.Offboarding(ctx, plan.Offboard{SourceTenantID: r.SourceTenantID, TargetTenantID: r.TargetTenantID,
		Name: r.Name, RemovePartners: r.RemovePartners, Found: found})
}

// onboardedName is the configuration name a pair was onboarded with: what
// apply recorded, else the latest onboarding of the pair.
func onboardedName(ctx context.Context, st *store.Store, pair store.Pair) (string, error) {
	if len(pair.Desired) > 0 {
		var d onboarding.Desired
		if err := json.Unmarshal(pair.Desired, &d); err == nil && d.ConfigurationName != "" {
			return d.ConfigurationName, nil
		}
	}
	list, err := st.ListOnboardings(ctx, 0)
	if err != nil {
		return "", err
	}
	for _, o := range list { // newest first
		if o.Kind == "" && strings.EqualFold(o.SourceTenantID, pair.SourceTenantID) && strings.EqualFold(o.TargetTenantID, pair.TargetTenantID) {
			return o.Name, nil
		}
	}
	return "", nil
}

// Digest identifies a preview: the request and every change it lists. A
// confirmation carrying it stands for exactly those changes.
func Digest(r onboarding.OffboardRequest, preview plan.Pair) string {
	doc, _ := json.Marshal(struct {
		Source, Target, Name string
		RemovePartners       bool
		Changes              []plan.Change
	}{r.SourceTenantID, r.TargetTenantID, r.Name, r.RemovePartners, preview.Changes})
	sum := sha256.Sum256(doc)
	return "sha256:" + hex.EncodeToString(sum[:])
}
