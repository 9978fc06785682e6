// Package fault classifies failures so every layer treats them alike: a
// handler reports what went wrong, the chain decides whether to retry, wait or
// dead-letter, and a person reading a dead letter learns what to fix.
package fault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind is the treatment class of a failure.
type Kind string

const (
	// Conflict: the object already exists. Ensure steps treat it as "observe again".
	Conflict Kind = "conflict"
	// NotFound: the object does not exist (yet). Ensure steps create it or wait for replication.
	NotFound Kind = "not_found"
	// Denied: the caller lacks a permission or role. Permanent until an admin acts.
	Denied Kind = "denied"
	// Throttled: the service asked us to slow down; retry after RetryAfter.
	Throttled Kind = "throttled"
	// Transient: a passing fault (5xx, network, replication lag); retry with backoff.
	Transient Kind = "transient"
	// Invalid: the request or the input event is wrong. Permanent until the input changes.
	Invalid Kind = "invalid"
)

// Retryable is the one place that says which failures are worth another
// attempt unchanged: throttling, transient faults, and conflicts (an ensure
// step that runs again observes the object it collided with). Not found is
// not retried: a step that expects an object to appear answers "not yet"
// (a wait, bounded by the replication window) instead of failing, so a
// not-found failure means the object is really absent. Denied and invalid
// wait for a person.
func (k Kind) Retryable() bool { return k == Throttled || k == Transient || k == Conflict }

// Error is a classified failure. Op names the operation ("POST /policies/…"),
// Tenant the tenant it ran against; Remedy, for permanent failures, tells a
// person what to change.
type Error struct {
	Kind       Kind
	Op         string
	Tenant     string
	Status     int
	Code       string
	Message    string
	RequestID  string
	RetryAfter time.Duration
	Remedy     string
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Tenant != "" {
		fmt.Fprintf(&b, " (tenant %s)", e.Tenant)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	} else if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Remedy != "" {
		fmt.Fprintf(&b, ". To fix: %s", e.Remedy)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a classified error with a message.
func New(kind Kind, op, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies err under kind unless it is already classified.
func Wrap(kind Kind, op string, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	return &Error{Kind: kind, Op: op, Err: err}
}

// KindOf returns the kind of a classified error. Unclassified errors count as
// transient: an unknown failure is retried a bounded number of times before it
// is dead-lettered, which is safe because every step is an idempotent ensure.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return Transient
}

// Is reports whether err is classified as kind.
func Is(err error, kind Kind) bool { return err != nil && KindOf(err) == kind }

// Optional reads a get's answer where absence is an answer, not a failure:
// NotFound gives nil, any other failure is returned.
func Optional[T any](v T, err error) (*T, error) {
	switch {
	case err == nil:
		return &v, nil
	case Is(err, NotFound):
		return nil, nil
	}
	return nil, err
}

// RetryAfterOf returns the wait the service asked for, or zero.
func RetryAfterOf(err error) time.Duration {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.RetryAfter
	}
	return 0
}

// RemedyOf returns the remedy attached to err, or "".
func RemedyOf(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Remedy
	}
	return ""
}

// Canceled reports whether err comes from a cancelled or expired context,
// which means the host is shutting down rather than that the step failed.
func Canceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
