package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/bus/sqs"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
)

// hostIntake is the intake of the host CTSYNC_STORE configures, for the
// commands that start work (onboard, apply, offboard): the local queue and
// state directory by default, or a cloud deployment's queues and shared
// store, so that the deployment's functions carry the work out.
//
//	CTSYNC_STORE unset or sqlite  the local queue (run by ctsync serve or --wait)
//	CTSYNC_STORE=dynamodb         the SQS queues named CTSYNC_QUEUE_PREFIX + step, DynamoDB
//	CTSYNC_STORE=tables           Service Bus (ServiceBus__fullyQualifiedNamespace or
//	                              CTSYNC_SERVICEBUS_CONNECTION_STRING), Table Storage
type hostIntake struct {
	onboarding.Intake
	Store *store.Store
	// Cloud is set when a cloud deployment carries the work out: --wait then
	// follows the shared store instead of running the chain here.
	Cloud bool
	// Where names the queue for people.
	Where string
	close func()
}

func (h *hostIntake) Close() { h.close() }

// openIntake opens the configured host's intake. It needs no Graph
// settings: the chain table is declared without them.
func (e *environment) openIntake(ctx context.Context) (*hostIntake, error) {
	kind, err := e.storeKind(storeSQLite)
	if err != nil {
		return nil, err
	}
	allowed, err := e.allowedTenants()
	if err != nil {
		return nil, err
	}
	table, err := onboarding.Table(nil, nil)
	if err != nil {
		return nil, err
	}
	if kind == storeSQLite {
		st, err := app.OpenState(e.stateDir(), localdb.Options{})
		if err != nil {
			return nil, err
		}
		return &hostIntake{Intake: onboarding.Intake{Table: table, Queue: st.Bus, Progress: st.Store, Allowed: allowed}, Store: st.Store,
			Where: "the local queue in " + e.stateDir(), close: func() { _ = st.Close() }}, nil
	}
	shared, err := e.openSharedState(ctx, kind)
	if err != nil {
		return nil, err
	}
	h := &hostIntake{Store: shared.store, Cloud: true, close: func() {}}
	switch kind {
	case storeDynamoDB:
		prefix := e.getenv("CTSYNC_QUEUE_PREFIX")
		out, err := sqs.Connect(ctx, prefix)
		if err != nil {
			return nil, err
		}
		h.Intake = onboarding.Intake{Table: table, Queue: out, Progress: shared.store, Allowed: allowed}
		h.Where = fmt.Sprintf("the deployment's SQS queues (prefix %q)", prefix)
	case storeTables:
		sb, closeBus, where, err := e.serviceBusPublisher()
		if err != nil {
			return nil, err
		}
		h.Intake = onboarding.Intake{Table: table, Queue: sb, Progress: shared.store, Allowed: allowed}
		h.Where = "the deployment's Service Bus queues (" + where + ")"
		h.close = closeBus
	}
	return h, nil
}

// follower runs or watches the chain until a check says the work is done:
// the local host runs the queue itself; for a cloud deployment the
// functions run it, and ctsync only reads the shared store.
type follower struct {
	Store *store.Store
	Run   func(ctx context.Context, done func(context.Context) (bool, error)) error
	// Where says who carries the work on after ctsync stops waiting.
	Where string
}

func localFollower(a *app.Local) follower {
	return follower{Store: a.Store, Run: a.Host.RunUntil, Where: "`ctsync serve`"}
}

func cloudFollower(h *hostIntake) follower {
	return follower{Store: h.Store, Where: "the deployment", Run: func(ctx context.Context, done func(context.Context) (bool, error)) error {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			ok, err := done(ctx)
			if err != nil || ok {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	}}
}

// openIntakeFor opens the configured host's intake, and with --wait
// something to follow the work with: the local host when the local queue is
// configured (it runs the chain here), or a follower of the cloud's shared
// store. Without --wait the follower is of no use. Nothing is opened before
// the settings were checked.
func (e *environment) openIntakeFor(ctx context.Context, wait bool) (*hostIntake, follower, error) {
	kind, err := e.storeKind(storeSQLite)
	if err != nil {
		return nil, follower{}, err
	}
	if !wait || kind != storeSQLite {
		h, err := e.openIntake(ctx)
		if err != nil || !wait {
			return h, follower{}, err
		}
		return h, cloudFollower(h), nil
	}
	a, err := openLocalHost(e)
	if err != nil {
		return nil, follower{}, err
	}
	return &hostIntake{Intake: a.Intake, Store: a.Store, Where: "the local queue in " + e.stateDir(), close: func() { _ = a.Close() }},
		localFollower(a), nil
}

// stoppedWaiting says whether err only means the wait was cut short.
func stoppedWaiting(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
