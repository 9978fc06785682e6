package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// FunctionsInvocation is the Azure Functions host's invocation request to a
// custom handler (POST /<function>): the trigger's and input bindings'
// values, and the trigger's metadata.
type FunctionsInvocation struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// ReadFunctionsInvocation decodes one invocation request.
func ReadFunctionsInvocation(r io.Reader) (FunctionsInvocation, error) {
	var inv FunctionsInvocation
	dec := json.NewDecoder(r)
	if err := dec.Decode(&inv); err != nil {
		return FunctionsInvocation{}, fmt.Errorf("invocation envelope is not JSON: %w", err)
	}
	if dec.More() {
		return FunctionsInvocation{}, errors.New("invocation envelope: more than one JSON value")
	}
	return inv, nil
}

// ServiceBusMessage reads a serviceBusTrigger invocation: the body from the
// binding, the message id and delivery count from the metadata. queue is
// the function's queue; invocation is the host's invocation id, which
// stands in for the lock token (the host settles the message itself).
func (inv FunctionsInvocation) ServiceBusMessage(binding, queue, invocation string) (Message, error) {
	body, err := triggerValue(inv.Data[binding])
	if err != nil {
		return Message{}, fmt.Errorf("%s binding: %w", binding, err)
	}
	m := Message{ID: metaString(inv.Metadata["MessageId"]), Queue: queue, Body: body,
		DeliveryCount: metaInt(inv.Metadata["DeliveryCount"]), LockToken: invocation}
	if m.DeliveryCount <= 0 {
		m.DeliveryCount = 1
	}
	if m.ID == "" {
		m.ID = invocation
	}
	return m, nil
}

// triggerValue reads a Service Bus trigger's value in any form the
// Functions host sends it. The host builds Data with
// GetHttpScriptInvocationContextValue (Azure/azure-functions-host,
// src/WebJobs.Script/Workers/ScriptInvocationContextExtensions.cs): a byte[]
// goes out base64-encoded unless the binding's dataType is "binary", an
// object as JSON, and anything else through JsonConvert.SerializeObject — a
// string as a JSON string holding the body. The bindings set dataType
// "string", so a message arrives as a JSON string; a body that was itself a
// serialized string arrives nested deeper. All three forms are accepted: an
// object, a JSON string of any depth (up to 8), base64.
func triggerValue(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	for depth := 0; depth < 8; depth++ {
		switch {
		case len(raw) == 0 || string(raw) == "null":
			return nil, errors.New("missing")
		case raw[0] == '{':
			return raw, nil
		case raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("not a JSON string: %w", err)
			}
			raw = bytes.TrimSpace([]byte(s))
			if len(raw) > 0 && raw[0] != '{' && raw[0] != '"' {
				decoded, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, errors.New("neither a JSON object, nor a string holding one, nor base64 of one")
				}
				raw = bytes.TrimSpace(decoded)
			}
		default:
			return nil, errors.New("not a JSON object, a string holding one, or base64 of one")
		}
	}
	return nil, errors.New("nested too deep")
}

// metaString reads a metadata value that may arrive as a string, or as a
// string holding a JSON string.
func metaString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	var inner string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &inner) == nil {
		return inner
	}
	return s
}

// metaInt reads a number that may arrive as a number or a string.
func metaInt(raw json.RawMessage) int {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	n, _ = strconv.Atoi(strings.Trim(metaString(raw), `"`))
	return n
}
