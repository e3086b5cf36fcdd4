package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/sqlite"
	"github.com/stackwave/stackwave/store/storetest"
)

func open(t testing.TB, path string, opts *sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "stackwave.db"), nil)
	})
}
