package main

import (
	"context"
	"log/slog"

	"github.com/ctsync/ctsync/pkg/app"
)

// runServe runs the local host until interrupted, then shuts down cleanly:
// no new message is taken and in-flight steps get time to finish.
func runServe(ctx context.Context, env *environment, args []string) error {
	if _, err := parseFlags(newFlagSet("serve"), args); err != nil {
		return err
	}
	log := env.logger(slog.LevelInfo)
	cfg, err := env.appConfig(log)
	if err != nil {
		return err
	}
	a, err := app.Open(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	log.Info("ctsync serving", "state_dir", cfg.StateDir, "graph", a.Graph.Config().Describe(), "queues", a.Table.Queues())
	err = a.Host.Run(ctx)
	log.Info("ctsync stopped")
	return err
}
