// Package local runs the chain in one process on the embedded durable queue:
// a pool of workers receiving, handling and settling messages, and timers for
// scheduled work. It is the default host on a fresh machine.
package local

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/chain"
)

// Host is the local runtime.
type Host struct {
	Router *chain.Router
	Bus    *bus.Embedded
	// Workers handle messages concurrently; default 32.
	Workers int
	// Lock is how long a received message stays invisible to other workers
	// and processes unless renewed. It is renewed every third of it while
	// the handler runs, so it can be short: after a crash, another process
	// takes the message back within one lock period. Default 15 s.
	Lock time.Duration
	// Poll is how often an idle worker looks for due messages; default 200 ms.
	Poll time.Duration
	// Grace is how long in-flight handlers may finish after shutdown
	// begins; default 30 s.
	Grace time.Duration
	Log   *slog.Logger
}

func (h *Host) defaults() {
	if h.Workers <= 0 {
		h.Workers = 32
	}
	if h.Lock <= 0 {
		h.Lock = 15 * time.Second
	}
	if h.Poll == 0 {
		h.Poll = 200 * time.Millisecond
	}
	if h.Grace == 0 {
		h.Grace = 30 * time.Second
	}
	if h.Log == nil {
		h.Log = slog.New(slog.DiscardHandler)
	}
}

// Run handles messages until ctx is done, then lets in-flight handlers
// finish (up to Grace) and returns.
func (h *Host) Run(ctx context.Context) error {
	h.defaults()
	// Handlers run on a context that outlives ctx by the grace period, so a
	// shutdown does not cut a Graph call in half when it need not.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(h.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-work.Done():
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < h.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.worker(ctx, work)
		}()
	}
	wg.Wait()
	return nil
}

func (h *Host) worker(ctx, work context.Context) {
	for ctx.Err() == nil {
		ds, err := h.Bus.Receive(ctx, nil, 1, h.Lock)
		if err != nil {
			if ctx.Err() == nil {
				h.Log.Error("receive failed", "error", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if len(ds) == 0 {
			h.idle(ctx)
			continue
		}
		for _, d := range ds {
			ctx, stop := h.keepLocked(work, d)
			if err := h.Router.Process(ctx, d); err != nil && !errors.Is(err, bus.ErrLockLost) {
				h.Log.Warn("message not settled; it returns when its lock expires", "message_id", d.ID, "error", err)
			}
			stop()
		}
	}
}

// keepLocked renews d's lock while its handler runs. If the lock is lost
// (this process stalled for a whole lock period and another took the
// message), the handler is cancelled: its settlement would be refused.
func (h *Host) keepLocked(ctx context.Context, d bus.Delivery) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(h.Lock / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_, err := h.Bus.RenewLock(context.WithoutCancel(ctx), d, h.Lock)
				switch {
				case errors.Is(err, bus.ErrLockLost):
					h.Log.Warn("message lock lost; abandoning the handler", "message_id", d.ID)
					cancel()
					return
				case err != nil:
					// A busy database is not a lost lock; the next tick tries again.
					h.Log.Warn("message lock not renewed; retrying", "message_id", d.ID, "error", err)
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel() }
}

// RunUntil handles messages until done reports true or ctx ends. done is
// checked every poll interval.
func (h *Host) RunUntil(ctx context.Context, done func(context.Context) (bool, error)) error {
	h.defaults()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_ = h.Run(runCtx)
	}()
	tick := time.NewTicker(h.Poll)
	defer tick.Stop()
	var result error
loop:
	for {
		select {
		case <-ctx.Done():
			result = ctx.Err()
			break loop
		case <-tick.C:
			ok, err := done(ctx)
			if err != nil {
				result = err
				break loop
			}
			if ok {
				break loop
			}
		}
	}
	stop()
	<-finished
	return result
}

// Drain handles messages until none is ready or locked; scheduled messages
// further than horizon in the future are left for later.
func (h *Host) Drain(ctx context.Context, horizon time.Duration) error {
	return h.RunUntil(ctx, func(ctx context.Context) (bool, error) {
		d, err := h.Bus.Depth(ctx)
		if err != nil {
			return false, err
		}
		if d.Ready > 0 || d.Locked > 0 {
			return false, nil
		}
		next, ok, err := h.Bus.NextDue(ctx)
		return !ok || time.Until(next) > horizon, err
	})
}

// idle waits for the next poll, for the next delayed message to come due
// if that is sooner, or until this process queues something.
func (h *Host) idle(ctx context.Context) {
	wait := h.Poll
	if next, ok, err := h.Bus.NextVisible(ctx); err == nil && ok {
		wait = min(wait, max(time.Until(next), time.Millisecond))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-h.Bus.Wake():
	case <-t.C:
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
