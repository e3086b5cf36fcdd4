// Package postgres is a store.Store in PostgreSQL (github.com/jackc/pgx/v5),
// for control planes that run several replicas against one database.
//
// Uniqueness comes from UNIQUE constraints and revisions are checked and
// bumped in one guarded UPDATE, so both hold between replicas. Leases are
// judged by the server's clock (now()), so replicas whose clocks drift
// still agree on who holds a deployment. Writes that span statements run
// in one transaction, retried on serialization failures and deadlocks.
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
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// Options configure a Store. The zero value means the defaults.
type Options struct {
	// MaxOperations caps each deployment's history; zero means
	// store.DefaultMaxOperations.
	MaxOperations int
	// Catalog lists the unit and volume types version specs may use; nil
	// means stack.DefaultCatalog().
	Catalog *stack.Catalog
	// MaxConns bounds the connection pool; zero keeps the URL's
	// pool_max_conns, or pgxpool's default (4, or the number of CPUs if
	// more).
	MaxConns int32
}

// Schema is the PostgreSQL schema holding the store's tables.
const Schema = "stackwave"

// Store is a store.Store in PostgreSQL. It is safe for concurrent use.
type Store struct {
	maxOps int
	rules  *validate.Options
	pool   *pgxpool.Pool
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user:password@host/db)
// and brings its schema up to date. opts may be nil.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, store.Invalid("url", redact(url), err.Error())
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = Schema
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	s := &Store{maxOps: store.DefaultMaxOperations}
	if opts.MaxOperations > 0 {
		s.maxOps = opts.MaxOperations
	}
	if opts.Catalog != nil {
		s.rules = &validate.Options{Catalog: opts.Catalog}
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(url), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open %s: %w", redact(url), err)
	}
	return s, nil
}

// Close closes the pool. Calls after Close fail with store.ErrClosed.
func (s *Store) Close() error {
	if !s.closed.Swap(true) {
		s.pool.Close()
	}
	return nil
}

// start checks that the store is open and ctx live.
func (s *Store) start(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// inTx runs fn in a transaction and commits it, retrying the whole
// transaction after a serialization failure or a deadlock.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if attempt < 5 && retryable(err) && ctx.Err() == nil {
			time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
			continue
		}
		return err
	}
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Error codes mapped onto the store's errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// mapErr turns what the database says into the store's errors, leaving
// the store's own errors as they are. inUse says what a foreign-key
// violation means: a delete that something still refers to (ErrInUse), or
// a write that refers to something missing (ErrNotFound).
func (s *Store) mapErr(ctx context.Context, err error, inUse bool) error {
	switch {
	case err == nil || isStoreErr(err):
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	case s.closed.Load():
		return store.ErrClosed
	}
	switch pgCode(err) {
	case uniqueViolation:
		return fmt.Errorf("%w (%v)", store.ErrAlreadyExists, err)
	case foreignKeyViolation:
		if inUse {
			return fmt.Errorf("%w (%v)", store.ErrInUse, err)
		}
		return fmt.Errorf("%w: a record it refers to is missing (%v)", store.ErrNotFound, err)
	case "40001", "40P01":
		return fmt.Errorf("%w (%v)", store.ErrConflict, err)
	}
	return err
}

func isStoreErr(err error) bool {
	for _, target := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrConflict, store.ErrInUse, store.ErrLeaseHeld, store.ErrInvalid, store.ErrClosed} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// redact hides the password of a URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func decode(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// lockKey names the advisory lock held while migrating ("stackwav" in
// ASCII).
const lockKey int64 = 0x737461636b776176

// migrations are the schema versions in order: migrations[i] brings a
// database from version i to i+1. Released entries never change; a new
// schema is a new entry.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE products (
	id            text PRIMARY KEY,
	name          text NOT NULL UNIQUE,
	provider_name text NOT NULL,
	description   text NOT NULL,
	product_type  text NOT NULL,
	visibility    text NOT NULL,
	tags          json NOT NULL,
	search        text NOT NULL,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	revision      bigint NOT NULL
);
CREATE INDEX products_created ON products (created_at, id);

CREATE TABLE templates (
	id           text PRIMARY KEY,
	description  text NOT NULL,
	stack_deps   json NOT NULL,
	content_hash text NOT NULL,
	created_at   timestamptz NOT NULL
);

CREATE TABLE versions (
	id           text PRIMARY KEY,
	product_id   text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
	name         text NOT NULL,
	description  text NOT NULL,
	guidance     text NOT NULL,
	active       boolean NOT NULL,
	stack_deps   json NOT NULL,
	template_url text NOT NULL,
	content_hash text NOT NULL,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	revision     bigint NOT NULL,
	UNIQUE (product_id, name)
);
CREATE INDEX versions_product ON versions (product_id, created_at, id);

CREATE TABLE deployments (
	name              text PRIMARY KEY,
	product_id        text NOT NULL REFERENCES products (id),
	version_id        text NOT NULL REFERENCES versions (id),
	target_version_id text REFERENCES versions (id),
	runtime           text NOT NULL,
	status            text NOT NULL,
	parameters        json NOT NULL,
	stacks            json NOT NULL,
	operations        json NOT NULL,
	event_seq         bigint NOT NULL DEFAULT 0,
	created_at        timestamptz NOT NULL,
	updated_at        timestamptz NOT NULL,
	revision          bigint NOT NULL
);
CREATE INDEX deployments_product ON deployments (product_id);
CREATE INDEX deployments_version ON deployments (version_id);
CREATE INDEX deployments_target ON deployments (target_version_id);

CREATE TABLE events (
	deployment   text NOT NULL REFERENCES deployments (name) ON DELETE CASCADE,
	seq          bigint NOT NULL,
	operation_id text NOT NULL,
	time         timestamptz NOT NULL,
	type         text NOT NULL,
	stack        text NOT NULL,
	service      text NOT NULL,
	message      text NOT NULL,
	PRIMARY KEY (deployment, seq)
);

CREATE TABLE leases (
	deployment  text PRIMARY KEY,
	owner       text NOT NULL,
	acquired_at timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);
`,
}

// SchemaVersion is the schema version this package writes.
func SchemaVersion() int { return len(migrations) }

// migrate brings the database to SchemaVersion under an advisory lock,
// one migration per transaction.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+Schema+`;
CREATE TABLE IF NOT EXISTS `+Schema+`.schema_migrations (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for {
		done := false
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var current int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
			switch {
			case current > len(migrations):
				return fmt.Errorf("database schema version %d is newer than this program's %d: upgrade stackwave", current, len(migrations))
			case current == len(migrations):
				done = true
				return nil
			}
			if _, err := tx.Exec(ctx, migrations[current]); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", current+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, current+1); err != nil {
				return fmt.Errorf("record schema version %d: %w", current+1, err)
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}
