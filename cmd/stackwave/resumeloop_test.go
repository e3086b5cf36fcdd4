package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store/memory"
)

// countingHandler counts error records and calls over at the 100th: a
// loop that spins, or runs for ever in fake time, is stopped rather than
// left running.
type countingHandler struct {
	errors atomic.Int64
	over   func()
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && h.errors.Add(1) == 100 {
		h.over()
	}
	return nil
}

// TestResumeLoopAfterTheStoreCloses checks that serve's resume loop does
// not spin once its store is closed: the store's release watch then has a
// closed channel, which must not wake the loop again and again. It goes on
// at its interval (fake time here: an hour passes at once) and logs the
// failure once per interval.
func TestResumeLoopAfterTheStoreCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memory.New(nil)
		ex := deploy.New(sim.New(nil), st, nil)
		defer ex.Close()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		h := &countingHandler{over: cancel}
		done := make(chan struct{})
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(done)
			resumeLoop(ctx, ex, st, time.Hour, slog.New(h))
		}()
		synctest.Wait()
		if n := h.errors.Load(); n != 1 {
			t.Fatalf("%d errors logged at once after the store closed, want 1 (a loop woken by the closed watch spins)", n)
		}
		time.Sleep(time.Hour) // fake time: the next interval
		synctest.Wait()
		if n := h.errors.Load(); n != 2 {
			t.Fatalf("%d errors logged after one interval, want 2", n)
		}
		cancel()
		<-done
	})
}

// TestResumeLoopEndsWithTheExecutor checks that the loop returns once
// the executor is closed instead of trying every interval for ever.
func TestResumeLoopEndsWithTheExecutor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memory.New(nil)
		defer st.Close()
		ex := deploy.New(sim.New(nil), st, nil)
		if err := ex.Close(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		h := &countingHandler{over: cancel}
		done := make(chan struct{})
		go func() {
			defer close(done)
			resumeLoop(ctx, ex, st, time.Hour, slog.New(h))
		}()
		<-done
		if n := h.errors.Load(); n != 0 {
			t.Fatalf("%d errors logged by a loop over a closed executor, want 0", n)
		}
	})
}
