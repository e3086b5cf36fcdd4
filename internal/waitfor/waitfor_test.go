package waitfor_test

import (
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/stackwave/stackwave/internal/waitfor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestTrue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		calls := 0
		if !waitfor.True(time.Minute, 10*time.Millisecond, func() bool { calls++; return calls == 5 }) {
			t.Fatal("the condition held at the fifth call, True says it did not")
		}
		if took := time.Since(start); took != 40*time.Millisecond {
			t.Errorf("held at the fifth call after %v, want 40ms", took)
		}
	})
}

func TestTrueAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !waitfor.True(time.Minute, time.Second, func() bool { return true }) || time.Since(start) != 0 {
			t.Errorf("a condition that holds at once waited %v", time.Since(start))
		}
	})
}

func TestTrueTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if waitfor.True(time.Minute, time.Second, func() bool { return false }) {
			t.Fatal("a condition that never holds: True says it did")
		}
		if took := time.Since(start); took != time.Minute {
			t.Errorf("gave up after %v, want the minute's timeout", took)
		}
	})
}
