package postgres_test

import (
	"testing"

	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/storetest"
)

func open(t testing.TB, url string, opts *postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.NewDatabase(t), nil)
	})
}
