package chain_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/fault"
)

func TestRecovererTurnsAPanicIntoATransientFailure(t *testing.T) {
	var logs bytes.Buffer
	h := chain.Recoverer(slog.New(slog.NewJSONHandler(&logs, nil)))(func(context.Context, *chain.Message) (chain.Outcome, error) {
		var m map[string]int
		m["boom"]++
		return chain.Outcome{}, nil
	})
	_, err := h(context.Background(), message(t, 1))
	if !fault.Is(err, fault.Transient) || !strings.Contains(err.Error(), "handler panicked: assignment to entry in nil map") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"handler panicked"`) || !strings.Contains(logs.String(), "recoverer_test.go") {
		t.Fatalf("the panic and its stack were not logged: %s", logs.String())
	}
}
