package harness_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stackwave/stackwave/deploy/internal/harness"
	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// envInt reads a positive integer from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// stores are the back-ends a case runs on: memory and SQLite, and
// PostgreSQL when STACKWAVE_POSTGRES_URL is set.
func stores(t *testing.T) map[string]func(t *testing.T) harness.Config {
	m := map[string]func(t *testing.T) harness.Config{
		"memory": func(t *testing.T) harness.Config {
			return harness.Config{Open: func(context.Context) (store.Driver, error) { return memory.NewDriver(), nil }}
		},
		"sqlite": func(t *testing.T) harness.Config {
			dir := t.TempDir()
			n := 0
			return harness.Config{Open: func(ctx context.Context) (store.Driver, error) {
				n++ // a fresh database for every run of a case
				return sqlite.OpenDriver(ctx, filepath.Join(dir, strconv.Itoa(n)+".db"), nil)
			}}
		},
	}
	if os.Getenv(pgtest.EnvURL) != "" {
		m["postgres"] = func(t *testing.T) harness.Config {
			// The server judges leases by its own clock, so a killed
			// executor's lease is waited out for real; 4 s leaves renewals
			// (a new connection's authentication included) room on a
			// loaded machine, where 1 s lost leases in runs that had no
			// fault.
			return harness.Config{ServerClock: true, LeaseTTL: 4 * time.Second, Open: func(ctx context.Context) (store.Driver, error) {
				return postgres.OpenDriver(ctx, pgtest.NewDatabase(t), nil)
			}}
		}
	}
	return m
}

// TestHarness plays generated cases on every store. The CI runs the
// default seeds; STACKWAVE_HARNESS_CASES, _SEED and _STEPS run others
// (see the package doc).
func TestHarness(t *testing.T) {
	first := envInt(t, "STACKWAVE_HARNESS_SEED", 1)
	steps := envInt(t, "STACKWAVE_HARNESS_STEPS", 12)
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			// The CI's seeds: by store, about 20 s each under -race on a
			// loaded 2-core machine (a kill on PostgreSQL waits for
			// the lease to expire by the server's clock).
			cases := envInt(t, "STACKWAVE_HARNESS_CASES", map[string]int{"memory": 80, "sqlite": 50, "postgres": 8}[name])
			cfg := open(t)
			for seed := uint64(first); seed < uint64(first+cases); seed++ {
				c := harness.Generate(seed, steps)
				err := harness.Run(t.Context(), cfg, c)
				if err == nil {
					continue
				}
				t.Errorf("seed %d: %v", seed, err)
				small := harness.Shrink(c, func(c *harness.Case) bool { return harness.Run(t.Context(), cfg, c) != nil })
				t.Fatalf("seed %d shrunk to %d steps (%v); reproduce with STACKWAVE_HARNESS_SEED=%d STACKWAVE_HARNESS_CASES=1 STACKWAVE_HARNESS_STEPS=%d, or save as testdata/regress/<name>.json:\n%s",
					seed, len(small.Steps), harness.Run(t.Context(), cfg, small), seed, steps, small)
			}
		})
	}
}

// TestRegressions plays the shrunk cases of earlier failures, each a
// named file of testdata/regress, on every store.
func TestRegressions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "regress", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no regression cases in testdata/regress")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c harness.Case
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, open := range stores(t) {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".json")+"/"+name, func(t *testing.T) {
				if err := harness.Run(t.Context(), open(t), &c); err != nil {
					t.Error(err)
				}
			})
		}
	}
}
