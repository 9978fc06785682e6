package chain

import (
	"context"
	"log/slog"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/steps"
)

// MonitorRoutes keep reading a started job until it settles.
func MonitorRoutes(s *steps.Steps) []Route {
	monitor := func(ctx context.Context, ev events.Event) ([]events.Event, error) {
		var st events.JobStatus
		if err := ev.DecodeData(&st); err != nil {
			return nil, err
		}
		return s.MonitorJob(ctx, st)
	}
	return []Route{
		{On: events.SourceJobObserved, Step: "monitor-job", Title: "monitor: first check of the running job", Handle: monitor},
		{On: events.SyncProgressed, Step: "monitor-job", Title: "monitor: re-check the running job", Handle: monitor},
	}
}

// AlertRoutes deliver alerts. The local host writes them to the log at the
// level their urgency deserves; cloud deployments add subscribers (mail,
// tickets, Logic Apps) to the same queue.
func AlertRoutes(log *slog.Logger) []Route {
	notify := func(ctx context.Context, ev events.Event) ([]events.Event, error) {
		level := slog.LevelWarn
		switch ev.Type {
		case events.SyncSteady:
			level = slog.LevelInfo
		case events.StepFailed, events.SyncQuarantined:
			level = slog.LevelError
		}
		log.Log(ctx, level, "alert", "alert_type", string(ev.Type), "subject", ev.Subject, "correlation_id", ev.CorrelationID, "data", string(ev.Data))
		return nil, nil
	}
	var routes []Route
	for _, t := range []events.Type{events.SyncSteady, events.SyncQuarantined, events.ProvisioningFailed, events.StepFailed} {
		routes = append(routes, Route{On: t, Step: "notify", Title: "alert: " + string(t), Handle: notify})
	}
	return routes
}
