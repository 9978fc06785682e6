package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/outcome"
	"github.com/ctsync/ctsync/pkg/store"
)

// notificationSettings turns off Entra's provisioning e-mails (ctsync's
// monitor reports quarantine within one interval instead of a day) and
// keeps the accidental-deletion threshold on: a cycle that would delete
// that many users waits for a person.
func notificationSettings(in events.Onboarding) string {
	threshold := events.DefaultDeleteThreshold
	if in.Configuration != nil && in.Configuration.DeleteThreshold > 0 {
		threshold = in.Configuration.DeleteThreshold
	}
	return fmt.Sprintf(`{"Enabled":false,"DeleteThresholdEnabled":true,"DeleteThresholdValue":%d,"HumanResourcesLookaheadQueryEnabled":false}`, threshold)
}

func jobSecrets(in events.Onboarding) []entra.Secret {
	return append(syncCredentials(in),
		entra.Secret{Key: "SyncNotificationSettings", Value: entra.Redacted(notificationSettings(in))},
		entra.Secret{Key: "SyncAll", Value: "false"},
	)
}

// digest identifies a set of secrets without keeping their values.
func digest(secrets []entra.Secret) string {
	h := sha256.New()
	for _, s := range secrets {
		h.Write([]byte(s.Key + "\x00" + s.Value.Reveal() + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// EnsureSecrets saves the job's credentials (step 9). Graph cannot read
// them back, so ctsync remembers a digest of what it saved (in the intent
// store, under "secrets/<service principal>") and saves again only when
// they differ. Saving is a PUT of the whole set, safe to repeat.
func (s *Steps) EnsureSecrets(ctx context.Context, in events.Onboarding) (outcome.Result, error) {
	source, err := s.source(ctx, in)
	if err != nil {
		return outcome.Result{}, err
	}
	secrets := jobSecrets(in)
	want := digest(secrets)
	key := secretsKey(in)
	saved, ok, err := s.intents.Intent(ctx, key)
	if err != nil {
		return outcome.Result{}, err
	}
	if ok && saved.State == store.IntentDone && saved.ObjectID == want {
		note.Add(ctx, "credentials already saved")
		return emit(events.SourceSecretsEnsured, in)
	}
	if err := source.SaveSecrets(ctx, in.ServicePrincipalID, secrets); err != nil {
		return outcome.Result{}, err
	}
	if err := s.intents.CompleteIntent(ctx, key, want, s.now()); err != nil {
		return outcome.Result{}, err
	}
	note.Add(ctx, "saved credentials (CompanyId, AuthenticationType=SyncPolicy, notifications off, delete threshold on)")
	return emit(events.SourceSecretsEnsured, in)
}

// SavedSecretsMatch reports whether the secrets EnsureSecrets would save
// for in are the ones it saved last, by the digest it keeps; known is false
// when ctsync has no record of saving any (plan shows them as to save).
func SavedSecretsMatch(ctx context.Context, intents store.Intents, in events.Onboarding) (same, known bool, err error) {
	saved, ok, err := intents.Intent(ctx, secretsKey(in))
	if err != nil || !ok || saved.State != store.IntentDone {
		return false, false, err
	}
	return saved.ObjectID == digest(jobSecrets(in)), true, nil
}

// secretsKey is where the digest of a job's saved secrets is kept.
func secretsKey(in events.Onboarding) string {
	return "secrets/" + strings.ToLower(in.ServicePrincipalID)
}
