package main

import (
	"log/slog"

	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/host/cloud"
	"github.com/ctsync/ctsync/pkg/host/settle"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/onboarding"
)

// openCloudHost builds what a cloud host runs: the chain, its store, and
// the shared half of the host (router, intake, harvester) publishing to
// out, the cloud's queues. It opens no embedded queue and no local host.
// The store is still the SQLite file on the platform's network share, whose
// rollback journal suits it (a write-ahead log needs memory shared on one
// machine).
func (e *environment) openCloudHost(out bus.Publisher) (*cloud.Host, func() error, error) {
	log := e.logger(slog.LevelInfo)
	cfg, err := e.appConfig(log)
	if err != nil {
		return nil, nil, err
	}
	hopts, err := e.harvestOptions(log)
	if err != nil {
		return nil, nil, err
	}
	gc, err := graph.New(cfg.Graph)
	if err != nil {
		return nil, nil, err
	}
	st, closeStore, err := app.OpenStore(cfg.StateDir, localdb.Options{NetworkFilesystem: true})
	if err != nil {
		return nil, nil, err
	}
	cfg.Chain.Log = log
	c, err := app.NewChain(gc, st, cfg.Chain)
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	return &cloud.Host{
		Router:  c.Router(settle.Publishing{Out: out}, st),
		Intake:  c.Intake(out, st).Accept,
		Harvest: c.Harvester(st, out, nil, hopts).Run,
		Log:     log,
	}, closeStore, nil
}

// queueNames are the queues a cloud deployment has: one per step, and the
// dead-letter queue.
func queueNames() []string {
	return append(stepQueues(), settle.DeadLetterQueue)
}

// stepQueues are the chain's step queues, from the table.
func stepQueues() []string {
	table, err := onboarding.Table(nil, nil)
	if err != nil {
		panic(err) // the table is static: a test would have failed
	}
	return table.Queues()
}
