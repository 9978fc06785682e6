package azfunc

import (
	"encoding/json"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/host/settle"
)

// ServiceBusConnection is the app-setting prefix of the Service Bus
// connection: ServiceBus__fullyQualifiedNamespace for a managed identity.
const ServiceBusConnection = "ServiceBus"

// HarvestSchedule is the app setting holding the harvest's NCRONTAB schedule.
const HarvestSchedule = "CTSYNC_HARVEST_SCHEDULE"

// DriftSchedule is the app setting holding the drift check's NCRONTAB
// schedule.
const DriftSchedule = "CTSYNC_DRIFT_SCHEDULE"

// Bindings returns each function's function.json, derived from the chain
// table: a function per step queue, the harvest timer and the API. A test
// fails when the files under functions/ drift from this.
func Bindings(t *chain.Table) map[string][]byte {
	out := map[string][]byte{}
	put := func(name string, bindings ...map[string]any) {
		raw, _ := json.MarshalIndent(map[string]any{"bindings": bindings}, "", "  ")
		out[name] = append(raw, '\n')
	}
	for _, q := range t.Queues() {
		// dataType "string": the host sends the body as a JSON string (see
		// payload), not as base64 of bytes.
		put(q, map[string]any{"name": MessageBinding, "type": "serviceBusTrigger", "direction": "in", "queueName": q,
			"connection": ServiceBusConnection, "isSessionsEnabled": false, "cardinality": "one", "dataType": "string"})
	}
	put(HarvestFunction, map[string]any{"name": "timer", "type": "timerTrigger", "direction": "in",
		"schedule": "%" + HarvestSchedule + "%", "runOnStartup": false, "useMonitor": true})
	put(DriftFunction, map[string]any{"name": "timer", "type": "timerTrigger", "direction": "in",
		"schedule": "%" + DriftSchedule + "%", "runOnStartup": false, "useMonitor": true})
	for _, fn := range []string{OnboardingsFunction, OffboardingsFunction} {
		put(fn,
			map[string]any{"name": RequestBinding, "type": "httpTrigger", "direction": "in", "methods": []string{"get", "post"},
				"authLevel": "function", "route": fn + "/{id?}"},
			map[string]any{"name": ResponseBinding, "type": "http", "direction": "out"})
	}
	return out
}

// Queues is infra/queues.json: every queue the Azure deployment creates.
func Queues(t *chain.Table) []byte {
	raw, _ := json.MarshalIndent(map[string]any{"queues": t.Queues(), "deadLetterQueue": settle.DeadLetterQueue}, "", "  ")
	return append(raw, '\n')
}
