package chain_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/fault"
)

func TestTimeoutCutsAHandlerShortAsATransientFailure(t *testing.T) {
	h := chain.Timeout(20 * time.Millisecond)(func(ctx context.Context, _ *chain.Message) (chain.Outcome, error) {
		<-ctx.Done()
		return chain.Outcome{}, ctx.Err()
	})
	start := time.Now()
	_, err := h(context.Background(), message(t, 1))
	if !errors.Is(err, context.DeadlineExceeded) || fault.KindOf(err) != fault.Transient || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %s", err, time.Since(start))
	}
}
