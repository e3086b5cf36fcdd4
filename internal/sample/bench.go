package sample

import (
	"runtime"
	"sync"
	"testing"
)

// Large sizes the benchmark product: 10,000 stacks of 10 services each, in
// 100 tiers of 100 stacks.
const (
	LargeStacks   = 10_000
	LargeServices = 10
	LargeWidth    = 100
)

// Large returns the JSON of the benchmark product, built once.
var Large = sync.OnceValue(func() []byte {
	return Document(LargeStacks, LargeServices, LargeWidth)
})

// PerService runs f b.N times and reports, besides the usual figures, the
// time and the bytes allocated per service of a product of services
// services ("ns/service", "B/service").
func PerService(b *testing.B, services int, f func()) {
	b.Helper()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		f()
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N) * float64(services)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/service")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/service")
}
