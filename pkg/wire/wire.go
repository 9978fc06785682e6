// Package wire decodes what reaches ctsync from outside before anything
// acts on it: the Azure Functions host's invocation envelopes, AWS Lambda's
// invocation payloads, the HTTP intake's body, and the provisioning logs'
// @odata.nextLink. Each decoder is a pure function over bytes, fuzzed with
// Go's native fuzzing (testdata/fuzz holds the seeds and every crasher kept
// as a regression case). The package imports only the standard library,
// the events package and aws-lambda-go's event types, so an instrumented
// fuzzing build stays small.
package wire

// Message is one queue message as a host received it, before the router
// parses its body.
type Message struct {
	ID            string
	Queue         string
	Body          []byte
	DeliveryCount int
	LockToken     string
}
