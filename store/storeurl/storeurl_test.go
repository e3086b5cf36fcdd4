package storeurl_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/sqlite"
	"github.com/stackwave/stackwave/store/storeurl"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	pg := pgtest.NewDatabase(t)
	for _, c := range []struct {
		url  string
		want any
	}{
		{"memory:", &memory.Store{}},
		{"sqlite:" + filepath.Join(dir, "a.db"), &sqlite.Store{}},
		{"sqlite://" + filepath.Join(dir, "b.db"), &sqlite.Store{}},
		{pg, &postgres.Store{}},
		{"postgresql" + strings.TrimPrefix(pg, "postgres"), &postgres.Store{}},
	} {
		s, err := storeurl.Open(t.Context(), c.url)
		if err != nil {
			t.Errorf("Open(%q): %v", c.url, err)
			continue
		}
		if got, want := fmt.Sprintf("%T", s), fmt.Sprintf("%T", c.want); got != want {
			t.Errorf("Open(%q) = %s, want %s", c.url, got, want)
		}
		if _, err := s.ListProducts(t.Context(), store.ProductQuery{}); err != nil {
			t.Errorf("Open(%q): listing: %v", c.url, err)
		}
		s.Close()
	}
}

func TestOpenInvalid(t *testing.T) {
	for _, u := range []string{"", "mysql://u:secret@h/db", "memory:x", "sqlite:", "/var/lib/x.db", "redis:"} {
		s, err := storeurl.Open(t.Context(), u)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
			continue
		}
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q): %v, want ErrInvalid", u, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error shows the password: %v", u, err)
		}
	}
}
