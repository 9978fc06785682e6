package steps

import (
	"context"
	"fmt"

	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/note"
	"github.com/ctsync/ctsync/pkg/store"
)

// createOnce describes a create Graph does not make idempotent
// (instantiating the configuration app, creating the job): how to look for
// the object, how to read it by id, and how to create it.
type createOnce struct {
	key  string // the intent's key: what must exist at most once
	what string // for notes and errors, e.g. "configuration app"
	// find looks for an existing object; it returns "" when there is none.
	// It may use the intent's object id to choose among several.
	find func(ctx context.Context, known string) (string, error)
	// readable reports whether the object with id can be read.
	readable func(ctx context.Context, id string) (bool, error)
	create   func(ctx context.Context) (string, error)
	// deleted, when set, is asked before an object ctsync created and
	// someone deleted is created again: an error stops the step instead.
	deleted func(id string) error
}

// ensureOnce returns the id of the object c describes, creating it only when
// no create can have happened before. The protocol:
//
//  1. If the object is visible, use it.
//  2. Otherwise claim an intent. If someone holds it already, a create may
//     have happened whose object is not visible yet (Entra replicates for
//     seconds to minutes, and an answer can be lost after the object was
//     made): wait, up to the replication window, before deciding it did not.
//  3. Create, and record the new id at once.
//  4. Wait until the new object can be read.
//
// A create refused with a 4xx answer certainly made nothing, so the intent
// is released; after a timeout or a 5xx the intent stays, because the object
// may exist.
func (s *Steps) ensureOnce(ctx context.Context, c createOnce) (string, error) {
	intent, held, err := s.intents.Intent(ctx, c.key)
	if err != nil {
		return "", fmt.Errorf("read create intent %s: %w", c.key, err)
	}
	id, err := c.find(ctx, intent.ObjectID)
	if err != nil {
		return "", err
	}
	if id != "" {
		if held && intent.ObjectID == id {
			if intent.State != store.IntentDone {
				if err := s.intents.CompleteIntent(ctx, c.key, id, s.now()); err != nil {
					return "", err
				}
			}
			note.Add(ctx, "%s %s is readable", c.what, id)
			return id, nil
		}
		if err := s.intents.CompleteIntent(ctx, c.key, id, s.now()); err != nil {
			return "", err
		}
		note.Add(ctx, "%s already present (%s)", c.what, id)
		return id, nil
	}
	claimed := false
	if !held {
		if intent, claimed, err = s.intents.ClaimIntent(ctx, c.key, s.now()); err != nil {
			return "", fmt.Errorf("claim create intent %s: %w", c.key, err)
		}
	}
	if !claimed {
		switch intent.State {
		case store.IntentDone:
			ok, err := c.readable(ctx, intent.ObjectID)
			if err != nil {
				return "", err
			}
			if ok {
				note.Add(ctx, "%s %s created earlier is readable", c.what, intent.ObjectID)
				return intent.ObjectID, nil
			}
			if s.now().Sub(intent.UpdatedAt) < s.opts.ReplicationWindow {
				return "", s.notYet(c.what, "%s %s was created at %s and is not readable yet (replication)", c.what, intent.ObjectID, intent.UpdatedAt.Format("15:04:05"))
			}
			// Created, then gone for longer than replication takes: deleted.
			if c.deleted != nil {
				if err := c.deleted(intent.ObjectID); err != nil {
					return "", err
				}
			}
			note.Add(ctx, "%s %s created earlier no longer exists; creating it again", c.what, intent.ObjectID)
		default:
			if age := s.now().Sub(intent.StartedAt); age < s.opts.ReplicationWindow {
				return "", s.notYet(c.what, "a create of the %s started at %s may have succeeded without its answer arriving; "+
					"waiting up to %s for the object to appear before creating again", c.what, intent.StartedAt.Format("15:04:05"), s.opts.ReplicationWindow)
			}
			note.Add(ctx, "an earlier create of the %s left nothing behind in %s; creating it", c.what, s.opts.ReplicationWindow)
		}
		// Take the stale intent over, compare-and-swapped against the version
		// read above: of several workers deciding this at once, one creates
		// and the others wait for it.
		if _, claimed, err = s.intents.TakeOverIntent(ctx, intent, s.now()); err != nil {
			return "", err
		} else if !claimed {
			return "", s.notYet(c.what, "another worker is creating the %s", c.what)
		}
	}
	id, err = c.create(ctx)
	if err != nil {
		switch fault.KindOf(err) {
		case fault.Invalid, fault.Denied, fault.Throttled, fault.NotFound, fault.Conflict:
			if rerr := s.intents.ReleaseIntent(ctx, c.key); rerr != nil {
				return "", rerr
			}
		}
		return "", err
	}
	if err := s.intents.CompleteIntent(ctx, c.key, id, s.now()); err != nil {
		return "", fmt.Errorf("record created %s %s: %w", c.what, id, err)
	}
	note.Add(ctx, "created %s %s", c.what, id)
	ok, err := c.readable(ctx, id)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", s.notYet(c.what, "%s %s was created and is not readable yet (replication)", c.what, id)
	}
	return id, nil
}

// readableBy adapts a Get into createOnce.readable: NotFound means "not yet".
func readableBy(get func(ctx context.Context, id string) error) func(ctx context.Context, id string) (bool, error) {
	return func(ctx context.Context, id string) (bool, error) {
		err := get(ctx, id)
		if fault.Is(err, fault.NotFound) {
			return false, nil
		}
		return err == nil, err
	}
}
