// Package store keeps what ctsync must remember between messages: where each
// onboarding stands (for `ctsync status`), create-once intents that stop a
// redelivered message from creating a second configuration app or job, and
// the harvester's checkpoints and collected records. Embedded is the local
// implementation in the same SQLite file as the embedded queue.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// Onboarding is one onboarding's current state.
type Onboarding struct {
	ID                 string
	SourceTenantID     string
	TargetTenantID     string
	Name               string
	Users              []string
	Groups             []string
	RequestedBy        string
	ServicePrincipalID string
	AppID              string
	AppRoleID          string
	JobID              string
	State              string // see the State constants
	Step               string // the step running, waiting or failed, or the last one done
	LastEvent          string
	Detail             string
	Remedy             string
	JobStatus          string // last status the monitor saw
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Onboarding states.
const (
	StateRequested = "requested"
	StateRunning   = "running"
	StateWaiting   = "waiting" // a step will be retried
	StateCompleted = "completed"
	StateFailed    = "failed"
)

// Step is one step's record within an onboarding.
type Step struct {
	OnboardingID string
	Name         string
	State        string // running, done, waiting, failed
	Attempts     int
	Detail       string
	StartedAt    time.Time
	UpdatedAt    time.Time
}

// Step states.
const (
	StepRunning = "running"
	StepDone    = "done"
	StepWaiting = "waiting"
	StepFailed  = "failed"
)

// Progress records where onboardings stand.
type Progress interface {
	// SaveOnboarding creates the onboarding or merges what o knows into it:
	// empty fields never overwrite known ones.
	SaveOnboarding(ctx context.Context, o Onboarding) error
	// SaveStep records a step's state and, unless onboardingState is empty,
	// the onboarding's state, step, detail and remedy.
	SaveStep(ctx context.Context, s Step, onboardingState, remedy string) error
	GetOnboarding(ctx context.Context, id string) (Onboarding, []Step, error)
	ListOnboardings(ctx context.Context, limit int) ([]Onboarding, error)
}

// Intent is a create-once guard. A step claims the intent before a
// non-idempotent create and records the created object's id after it, so a
// redelivered message knows a create may already have happened even when the
// new object is not readable yet.
type Intent struct {
	Key       string
	State     string // IntentPending or IntentDone
	ObjectID  string
	StartedAt time.Time
	UpdatedAt time.Time
}

// Intent states.
const (
	IntentPending = "pending"
	IntentDone    = "done"
)

// Intents stores create-once guards.
type Intents interface {
	// Intent returns the intent stored under key, if any.
	Intent(ctx context.Context, key string) (Intent, bool, error)
	// IntentKeysFor returns the keys of intents that created objectID.
	IntentKeysFor(ctx context.Context, objectID string) ([]string, error)
	// ClaimIntent creates a pending intent for key unless one exists; it
	// returns the intent that is now stored and whether this call created it.
	ClaimIntent(ctx context.Context, key string, now time.Time) (Intent, bool, error)
	// CompleteIntent records the created object.
	CompleteIntent(ctx context.Context, key, objectID string, now time.Time) error
	// ReleaseIntent forgets an intent whose create certainly did not happen
	// (or whose object is gone), so the next attempt may create.
	ReleaseIntent(ctx context.Context, key string) error
}
