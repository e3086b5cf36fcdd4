package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/sqlite"
)

// latencyDeps is a launch of tiers x stacks x services services.
func latencyDeps(tiers, stacks, services int) stack.Deps {
	deps := make(stack.Deps, tiers)
	for t := range deps {
		for s := range stacks {
			st := stack.Stack{Name: fmt.Sprintf("t%d-s%d", t, s)}
			for k := range services {
				st.Services = append(st.Services, stack.Service{
					Name: fmt.Sprintf("svc%d", k), UnitType: "1U1G",
					Image: stack.Image{Name: "registry.local/app", Tag: "1.0"},
				})
			}
			deps[t] = append(deps[t], st)
		}
	}
	return deps
}

// BenchmarkEventLatency measures how long an event takes from the
// executor that emits it to a client of the event stream (SSE), during a
// launch of 20,000 services on the simulated runtime: on SQLite, on
// PostgreSQL, and on PostgreSQL with the stream served by another
// replica (another Store on the same database) than the one running the
// launch. Only events emitted after the client connected count. It
// reports the median, 99th percentile and worst latency of all of them.
//
// The launch is paced: in the simulated runtime each stack's apply and its
// readiness take 500 ms, eight stacks at a time, so the 20,000 services
// start in about 25 s (800 a second, faster than Docker or Kubernetes
// start containers) with about 2,400 events a second. "fast" divides those
// latencies by five (about 20,000 events a second), and "burst" has none:
// the engine then emits 40,000 events in about a second, faster than any
// store records them, and the latency is the backlog's.
//
//	go test -run '^$' -bench EventLatency -benchtime 1x ./api
func BenchmarkEventLatency(b *testing.B) {
	b.Run("paced", func(b *testing.B) {
		benchLatencyStores(b, &sim.Options{ApplyLatency: 500 * time.Millisecond, ReadyLatency: 500 * time.Millisecond})
	})
	b.Run("fast", func(b *testing.B) {
		benchLatencyStores(b, &sim.Options{ApplyLatency: 100 * time.Millisecond, ReadyLatency: 100 * time.Millisecond})
	})
	b.Run("burst", func(b *testing.B) { benchLatencyStores(b, nil) })
}

func benchLatencyStores(b *testing.B, simOpts *sim.Options) {
	deps := latencyDeps(2, 100, 100)
	b.Run("sqlite", func(b *testing.B) {
		st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "stackwave.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		benchLatency(b, st, st, deps, simOpts)
	})
	b.Run("postgres", func(b *testing.B) {
		url := pgtest.NewDatabase(b)
		st, err := postgres.Open(b.Context(), url, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		benchLatency(b, st, st, deps, simOpts)
	})
	b.Run("postgres-replica", func(b *testing.B) {
		url := pgtest.NewDatabase(b)
		a, err := postgres.Open(b.Context(), url, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.Close() })
		other, err := postgres.Open(b.Context(), url, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { other.Close() })
		benchLatency(b, a, other, deps, simOpts)
	})
}

// benchLatency launches deps through an executor on run and streams the
// launch's events from an API server on serve.
func benchLatency(b *testing.B, run, serve *store.Store, deps stack.Deps, simOpts *sim.Options) {
	ctx := context.Background()
	reg, err := run.Register(ctx, &product.Document{Name: "wide", ProviderName: "bench", StackDeps: deps}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ex := deploy.New(sim.New(simOpts), run, &deploy.Options{LeaseTTL: 10 * time.Second})
	b.Cleanup(func() { ex.Close() })
	// The serving replica has an executor of its own, which runs nothing.
	other := ex
	if serve != run {
		other = deploy.New(sim.New(nil), serve, nil)
		b.Cleanup(func() { other.Close() })
	}
	ts := httptest.NewServer(api.New(serve, other, nil))
	b.Cleanup(ts.Close)

	var lat []time.Duration
	events := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("wide-%d", i)
		h, err := ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: name, VersionID: reg.Version.ID})
		if err != nil {
			b.Fatal(err)
		}
		res, err := http.Get(ts.URL + "/api/deployments/" + name + "/events?operation_id=" + h.OperationID)
		if err != nil {
			b.Fatal(err)
		}
		connected := time.Now()
		if res.StatusCode != 200 {
			b.Fatalf("events: %s", res.Status)
		}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			now := time.Now()
			var e api.Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				b.Fatal(err)
			}
			events++
			if e.Time.After(connected) {
				lat = append(lat, now.Sub(e.Time))
			}
		}
		res.Body.Close()
		if _, err := h.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(lat) == 0 {
		b.Fatal("no event was emitted after the client connected")
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(events)/float64(b.N), "events/launch")
}
