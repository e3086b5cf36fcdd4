package deploy

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
)

// TestSlowDown: each failure for an unavailable engine takes one slot of
// the executor's bound out of use for backOff, never the last one, and
// the slots come back by themselves.
func TestSlowDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(sim.New(nil), nil, &Options{Concurrency: 3})
		defer e.Close()
		free := func() int {
			n := 0
			for e.sem.TryAcquire(1) {
				n++
			}
			e.sem.Release(int64(n))
			return n
		}
		for range 5 {
			e.slowDown()
		}
		synctest.Wait()
		if n := free(); n != 1 {
			t.Fatalf("after 5 failures: %d slots free, want 1", n)
		}
		time.Sleep(backOff)
		synctest.Wait()
		if n := free(); n != 3 {
			t.Fatalf("after the back-off: %d slots free, want 3", n)
		}
	})
}

type hinted struct {
	*sim.Runtime
	n int
}

func (h hinted) Concurrency() int { return h.n }

// TestConcurrencyHint: with Concurrency zero the executor takes the
// runtime's hint; an explicit value or a runtime without a hint keeps
// the option or the default.
func TestConcurrencyHint(t *testing.T) {
	for _, tc := range []struct {
		rt   runtime.Runtime
		opt  int
		want int
	}{
		{hinted{sim.New(nil), 32}, 0, 32},
		{hinted{sim.New(nil), 32}, 4, 4},
		{hinted{sim.New(nil), 0}, 0, DefaultConcurrency},
		{sim.New(nil), 0, DefaultConcurrency},
	} {
		e := New(tc.rt, nil, &Options{Concurrency: tc.opt})
		if e.opts.Concurrency != tc.want {
			t.Errorf("%T hint, option %d: concurrency %d, want %d", tc.rt, tc.opt, e.opts.Concurrency, tc.want)
		}
		e.Close()
	}
}
