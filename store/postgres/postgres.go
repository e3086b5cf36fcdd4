// Package postgres keeps a store in PostgreSQL (pgx through database/sql),
// for control planes that run several replicas against one database.
//
// Uniqueness comes from UNIQUE constraints and revisions are checked by
// guarded UPDATEs, so both hold between replicas. Leases are judged by the
// server's clock (now()), so replicas whose clocks drift still agree on
// who holds a deployment, and lease writes have connections of their own,
// so a renewal never waits behind a large launch's records. Writes run in
// transactions, retried on serialization failures and deadlocks. Every
// committed change to a deployment, and every released lease, is sent to
// the other replicas with NOTIFY: subscriptions in any replica wake at
// once (*store.Store.SubscribeEvents).
//
// The tables live in the schema "stackwave". The schema is versioned in
// code: Open applies the migrations the database lacks under an advisory
// lock, so replicas starting at once migrate it exactly once, and refuses
// a database migrated by a newer stackwave.
//
// Times stamped by the store, and event times, are kept to the
// microsecond, as PostgreSQL keeps them.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/internal/sqldriver"
)

// Options configure a store in PostgreSQL. The zero value means the
// defaults.
type Options struct {
	// Options are the store's own (history cap, catalog, keys); leases
	// are judged by the server's clock, records stamped by Now.
	store.Options
	// MaxConns bounds the connections of reads and writes; zero means 4,
	// or the number of CPUs if more. Two more serve lease writes, and
	// one listens for notifications.
	MaxConns int
}

// Schema is the PostgreSQL schema holding the store's tables.
const Schema = "stackwave"

// channel is the NOTIFY channel of the store's changes.
const channel = "stackwave_changes"

// Open connects to the database at url (postgres://user:password@host/db)
// and brings its schema up to date. opts may be nil.
func Open(ctx context.Context, url string, opts *Options) (*store.Store, error) {
	var so *store.Options
	if opts != nil {
		so = &opts.Options
	}
	d, err := OpenDriver(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	return store.New(d, so), nil
}

// OpenDriver opens the driver alone, for tests that wrap it.
func OpenDriver(ctx context.Context, url string, opts *Options) (store.Driver, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, store.Invalid("url", redact(url), err.Error())
	}
	cfg.RuntimeParams["search_path"] = Schema
	cfg.RuntimeParams["timezone"] = "UTC"
	conns := max(4, runtime.NumCPU())
	if opts != nil && opts.MaxConns > 0 {
		conns = opts.MaxConns
	}
	pool := func(n int) *sql.DB {
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db
	}
	rw, urgent := pool(conns), pool(2)
	if err := rw.PingContext(ctx); err != nil {
		rw.Close()
		urgent.Close()
		return nil, fmt.Errorf("open %s: %w", redact(url), err)
	}
	l := &listener{cfg: cfg}
	dl := *dialect
	dl.Listen = l.listen
	d, err := sqldriver.Open(ctx, &dl, sqldriver.Config{Reads: rw, Writes: rw, Urgent: urgent})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(url), err)
	}
	return d, nil
}

// redact hides the password of a URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// lockKey names the advisory lock held while migrating ("stackwav" in
// ASCII).
const lockKey = "8319100460316697974"

// dialect is what PostgreSQL does its own way.
var dialect = &sqldriver.Dialect{
	Begin:           "BEGIN ISOLATION LEVEL READ COMMITTED",
	Migrations:      migrations,
	MigrationLock:   `SELECT pg_advisory_xact_lock(` + lockKey + `); CREATE SCHEMA IF NOT EXISTS ` + Schema,
	MigrationsTable: `CREATE TABLE IF NOT EXISTS ` + Schema + `.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
	ReadIsolation:   sql.LevelRepeatableRead,
	Time:            func(t time.Time) any { return t },
	EventTime:       func(t time.Time) any { return t },
	JSON:            func(col string) string { return col + "::text" },
	Contains:        func(h, p string) string { return "strpos(" + h + ", " + p + ") > 0" },
	Classify:        classify,
	Now:             `SELECT now()`,
	Notify:          `SELECT pg_notify('` + channel + `', $1)`,
	EventRows:       100,
}

func classify(err error) sqldriver.Kind {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return sqldriver.Other
	}
	switch pe.Code {
	case "40001", "40P01":
		return sqldriver.Retry
	case "23505":
		return sqldriver.Unique
	case "23503":
		return sqldriver.ForeignKey
	case "25P01":
		return sqldriver.NoTransaction
	case "57014":
		return sqldriver.Interrupted
	}
	return sqldriver.Other
}

// listener holds the connection that LISTENs for the store's changes.
type listener struct {
	cfg *pgx.ConnConfig
}

// listen relays notifications to fn until ctx is done, connecting again
// when the connection is lost; after each (re)connection it calls fn("")
// since changes may have been missed meanwhile.
func (l *listener) listen(ctx context.Context, fn func(key string)) error {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, l.cfg)
		if err == nil {
			_, err = conn.Exec(ctx, `LISTEN `+channel)
			if err == nil {
				delay = 100 * time.Millisecond
				fn("")
				for err == nil {
					var n *pgconn.Notification
					if n, err = conn.WaitForNotification(ctx); err == nil {
						fn(n.Payload)
					}
				}
			}
			conn.Close(context.WithoutCancel(ctx))
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
			delay = min(2*delay, 5*time.Second)
		}
	}
	return nil
}

// migrations are the store's schema in PostgreSQL's types.
var migrations = sqldriver.Migrations(sqldriver.Types{
	Text: "text", Int: "bigint", Bool: "boolean",
	Time: "timestamptz", EventTime: "timestamptz",
	JSON: "json",
})

// SchemaVersion is the schema version this package writes.
func SchemaVersion() int { return len(migrations) }
