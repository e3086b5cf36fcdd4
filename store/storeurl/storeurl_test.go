package storeurl_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/storeurl"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	pg := pgtest.NewDatabase(t)
	for _, c := range []struct {
		url  string
		want string // the driver's type
		file string // the file a sqlite store makes
	}{
		{"memory:", "*memory.Driver", ""},
		{"sqlite:" + filepath.Join(dir, "a.db"), "*sqldriver.Driver", filepath.Join(dir, "a.db")},
		{"sqlite://" + filepath.Join(dir, "b.db"), "*sqldriver.Driver", filepath.Join(dir, "b.db")},
		{pg, "*sqldriver.Driver", ""},
		{"postgresql" + strings.TrimPrefix(pg, "postgres"), "*sqldriver.Driver", ""},
	} {
		s, err := storeurl.Open(t.Context(), c.url)
		if err != nil {
			t.Errorf("Open(%q): %v", c.url, err)
			continue
		}
		if got := fmt.Sprintf("%T", s.Driver()); got != c.want {
			t.Errorf("Open(%q) has a %s, want %s", c.url, got, c.want)
		}
		if _, err := os.Stat(c.file); c.file != "" && err != nil {
			t.Errorf("Open(%q): %v", c.url, err)
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
