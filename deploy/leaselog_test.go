package deploy_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// find returns the records of level with message msg.
func (h recordingHandler) find(level slog.Level, msg string) []logRecord {
	var out []logRecord
	for _, r := range h.all() {
		if r.level == level && r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestLeaseRenewalFailuresLogOncePerStreak: while the store refuses
// renewals, which are tried again every twentieth of the TTL, the
// operation logs the first failure of the streak, then its end: the
// renewal that worked again, or the loss of the lease, each with the
// count; not one warning a retry.
func TestLeaseRenewalFailuresLogOncePerStreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// Writes are transactions (Update); while the service waits,
		// the lease's renewals are the only ones.
		var down atomic.Bool
		var refused atomic.Int64
		drv := store.WrapDriver(memory.NewDriver(), store.DriverHooks{Before: func(ctx context.Context, c store.DriverCall) context.Context {
			if c.Method != "Update" || !down.Load() {
				return nil
			}
			refused.Add(1)
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return cctx
		}})
		st := store.New(drv, nil)
		logs := newRecordingHandler()
		const ttl = 30 * time.Second
		ex := deploy.New(sim.New(&sim.Options{ReadyLatency: time.Hour}), st, &deploy.Options{LeaseTTL: ttl, Logger: slog.New(logs)})
		defer ex.Close()
		reg, err := st.Register(ctx, &product.Document{Name: "shop", ProviderName: "tests",
			StackDeps: stack.Deps{{stk("db", "mysql")}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: reg.Version.ID})
		if err != nil {
			t.Fatal(err)
		}
		// Renewals at 10s (works), then 20s, 21.5s, ... 26s (refused),
		// 27.5s (works). The bubble's clock moves only when every
		// goroutine waits, so each step below is exact.
		time.Sleep(15 * time.Second)
		down.Store(true)
		time.Sleep(12 * time.Second)
		down.Store(false)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		first := refused.Load()
		if first < 3 {
			t.Fatalf("%d renewals refused, want several", first)
		}
		warned := logs.find(slog.LevelWarn, "lease renewal failed; retrying")
		again := logs.find(slog.LevelInfo, "lease renewed again")
		if len(warned) != 1 || len(again) != 1 || len(logs.find(slog.LevelWarn, "lease renewal still failing; retrying")) != 0 {
			t.Fatalf("%d renewals refused: %d warnings, %d recoveries; want one of each", first, len(warned), len(again))
		}
		if got := again[0].attrs["failed_renewals"]; got != strconv.FormatInt(first, 10) {
			t.Errorf("recovery says %s failed renewals, want %d", got, first)
		}
		if got := warned[0].attrs["expires_in"]; got != "20s" {
			t.Errorf("first failure at 20s says the lease expires in %s, want 20s (renewed at 10s)", got)
		}

		// Down for good: one more warning, then the loss with the count.
		down.Store(true)
		if _, err := h.Wait(ctx); !errors.Is(err, deploy.ErrLeaseLost) {
			t.Fatalf("launch with the store down: %v, want ErrLeaseLost", err)
		}
		lost := logs.find(slog.LevelError, "lease lost; stopping the operation")
		if n := len(logs.find(slog.LevelWarn, "lease renewal failed; retrying")); n != 2 || len(lost) != 1 {
			t.Fatalf("second streak: %d warnings in all, %d losses; want 2 and 1", n, len(lost))
		}
		if got, _ := strconv.Atoi(lost[0].attrs["failed_renewals"]); got < 3 {
			t.Errorf("the loss says %d failed renewals, want the streak's", got)
		}
	})
}
