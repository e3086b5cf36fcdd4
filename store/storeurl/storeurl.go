// Package storeurl opens a *store.Store from a URL-like string, as the CLI
// and the API server take it from a flag or the environment:
//
//	memory:                          an empty in-memory store (store/memory)
//	sqlite:PATH                      a SQLite file (store/sqlite), e.g. sqlite:/var/lib/stackwave.db
//	postgres://user:pw@host/db?...   PostgreSQL (store/postgres); postgresql:// too
//
// Drivers are chosen by a switch, not registered: there is no global
// registry to fill.
package storeurl

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/sqlite"
)

// Schemes lists the schemes Open knows, for help texts.
var Schemes = []string{"memory:", "sqlite:PATH", "postgres://...", "postgresql://..."}

// Open opens the store s names with each driver's default options. An
// unknown scheme, or a missing path, fails with an error matching
// store.ErrInvalid.
func Open(ctx context.Context, s string) (*store.Store, error) {
	return OpenOptions(ctx, s, nil)
}

// OpenOptions is Open with the store's own options (clock, keys...); nil
// means the defaults.
func OpenOptions(ctx context.Context, s string, opts *store.Options) (*store.Store, error) {
	if opts == nil {
		opts = &store.Options{}
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("open store: %w", store.Invalid("store URL", redact(s), "want one of "+strings.Join(Schemes, ", ")))
	}
	switch strings.ToLower(scheme) {
	case "memory":
		if rest != "" {
			return nil, fmt.Errorf("open store: %w", store.Invalid("store URL", s, `the memory store takes no path: use "memory:"`))
		}
		return memory.New(opts), nil
	case "sqlite":
		// sqlite:///abs/path and sqlite://rel are read as paths too.
		path := rest
		if p, ok := strings.CutPrefix(rest, "//"); ok {
			path = p
		}
		if path == "" {
			return nil, fmt.Errorf("open store: %w", store.Invalid("store URL", s, "sqlite needs a path: sqlite:/var/lib/stackwave/stackwave.db"))
		}
		st, err := sqlite.Open(ctx, path, &sqlite.Options{Options: *opts})
		if err != nil {
			return nil, err
		}
		return st, nil
	case "postgres", "postgresql":
		st, err := postgres.Open(ctx, s, &postgres.Options{Options: *opts})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, fmt.Errorf("open store: %w", store.Invalid("store URL", redact(s),
		"unknown scheme "+fmt.Sprintf("%q", scheme)+"; want one of "+strings.Join(Schemes, ", ")))
}

// redact hides a password, should the string be a URL carrying one.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}
