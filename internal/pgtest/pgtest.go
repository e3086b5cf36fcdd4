// Package pgtest gives each test its own PostgreSQL database on the server
// named by the STACKWAVE_POSTGRES_URL environment variable, which
// scripts/postgres.sh starts and prints:
//
//	eval "$(scripts/postgres.sh --env)"
//	go test ./...
//
// A test that needs PostgreSQL fails, never skips, when the variable is
// unset or the server cannot be reached: a green run always means the
// PostgreSQL tests ran.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the server's URL. Its
// role must be allowed to create databases.
const EnvURL = "STACKWAVE_POSTGRES_URL"

const hint = "start PostgreSQL with `eval \"$(scripts/postgres.sh --env)\"`, which sets " + EnvURL

// ServerURL returns the URL in STACKWAVE_POSTGRES_URL, failing the test
// when it is unset.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Fatalf("PostgreSQL tests need a server: %s is not set; %s", EnvURL, hint)
	}
	return u
}

// NewDatabase creates an empty database with a random name on the server
// and returns its URL; the database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	if u, err := url.Parse(server); err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		t.Fatalf("%s must be a postgres:// URL, got %s", EnvURL, redact(server))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable: %v; %s", redact(server), err, hint)
	}
	defer admin.Close(context.Background())

	var b [8]byte
	rand.Read(b[:])
	name := "stackwave_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database on %s: %v (the role needs CREATEDB)", redact(server), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})

	u, _ := url.Parse(server)
	u.Path = "/" + name
	return u.String()
}

// redact hides the password of a URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
