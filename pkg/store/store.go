// Package store keeps what ctsync must remember between messages: where each
// onboarding stands (for `ctsync status`), create-once intents that stop a
// redelivered message from creating a second configuration app or job, the
// harvester's checkpoints, the ids it delivered inside the overlap window and
// its lease, and each tenant pair's record (its desired configuration as last
// applied, and what ctsync found before it changed anything).
//
// Store holds all of it on a KV — single items written with compare-and-swap
// and nothing more — so every backend behaves alike and many processes may
// share one: SQLite for the local host (in the same file as the embedded
// queue), Azure Table Storage (package tablestore) and Amazon DynamoDB
// (package dynamostore) for the cloud hosts. storetest is the contract all
// of them pass.
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
	ID string
	// Kind is KindOffboarding for an offboarding, empty for an onboarding.
	Kind               string
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
	State              State
	Step               string // the step running, waiting or failed, or the last one done
	LastEvent          string
	Detail             string
	Remedy             string
	JobStatus          string    // last status the monitor saw
	SyncState          SyncState // what the monitor concluded
	Drift              string    // what was changed or deleted outside ctsync, when something was
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// KindOffboarding marks an offboarding's record: it is kept and shown like
// an onboarding's, under its own id.
const KindOffboarding = "offboarding"

// State is where an onboarding stands.
type State string

// Onboarding states.
const (
	StateRequested State = "requested"
	StateRunning   State = "running"
	StateWaiting   State = "waiting" // a step waits for Entra, or will be retried
	StateCompleted State = "completed"
	StateFailed    State = "failed"
)

// Finished reports whether the onboarding chain has ended, either way.
func (s State) Finished() bool { return s == StateCompleted || s == StateFailed }

// SyncState is what the monitor concluded about the running job.
type SyncState string

// Monitor conclusions; empty while the job has not settled.
const (
	SyncSteady      SyncState = "steady"
	SyncQuarantined SyncState = "quarantined"
	SyncDrifted     SyncState = "drifted"
)

// Step is one step's record within an onboarding.
type Step struct {
	OnboardingID string
	Name         string
	State        StepState
	Attempts     int           // the attempt the last run was (waits do not count)
	Runs         int           // how often the step ran to a settlement
	Detail       string        // what the step found or changed, or why it waits or failed
	Took         time.Duration // how long the last run took
	StartedAt    time.Time
	UpdatedAt    time.Time
}

// StepState is a step's state.
type StepState string

// Step states.
const (
	StepDone     StepState = "done"
	StepWaiting  StepState = "waiting"  // Entra has not caught up yet
	StepRetrying StepState = "retrying" // it failed and will be tried again
	StepFailed   StepState = "failed"
)

// Update is one change of progress, as a step's settlement writes it: the
// step's record and what the onboarding learned. An Onboarding whose State is
// empty only merges the ids and status it carries; with a State it also sets
// the current step, detail and remedy — except that a completed onboarding
// keeps its verdict when a redelivered message re-runs an earlier step.
type Update struct {
	Step       *Step
	Onboarding *Onboarding
	// Handled marks a message as handled (see Handled).
	Handled *Handled
}

// Handled names a message the router acknowledged: the event, the step
// that handled it, and the correlation it belongs to (its partition).
type Handled struct {
	Correlation, Step, EventID string
}

// Progress records where onboardings stand.
type Progress interface {
	// SaveOnboarding creates the onboarding or merges what o knows into it:
	// empty fields never overwrite known ones.
	SaveOnboarding(ctx context.Context, o Onboarding) error
	// SaveProgress applies updates.
	SaveProgress(ctx context.Context, updates ...Update) error
	GetOnboarding(ctx context.Context, id string) (Onboarding, []Step, error)
	ListOnboardings(ctx context.Context, limit int) ([]Onboarding, error)
}

// Intent is a create-once guard. A step claims the intent before a
// non-idempotent create and records the created object's id after it, so a
// redelivered message knows a create may already have happened even when the
// new object is not readable yet.
type Intent struct {
	Key       string    `json:"-"`
	State     string    `json:"state"` // IntentPending or IntentDone
	ObjectID  string    `json:"objectId,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Version identifies this write of the intent, for a takeover.
	Version string `json:"-"`
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
	// TakeOverIntent replaces stale (an intent read before, whose create
	// evidently left nothing behind) with a fresh pending one, unless
	// someone changed it since; it reports whether this call took it.
	TakeOverIntent(ctx context.Context, stale Intent, now time.Time) (Intent, bool, error)
	// CompleteIntent records the created object.
	CompleteIntent(ctx context.Context, key, objectID string, now time.Time) error
	// ReleaseIntent forgets an intent whose create certainly did not happen,
	// so the next attempt may create.
	ReleaseIntent(ctx context.Context, key string) error
}
