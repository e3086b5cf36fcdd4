// Package sqldriver is the one store.Driver over database/sql that the
// SQLite and PostgreSQL drivers share: the queries, the transactions and
// the mapping of records to rows are written once here, and a small
// Dialect says what differs (how a write transaction begins, column
// types, how errors read, the schema).
//
// Queries use $1, $2... placeholders, numbered in the order they first
// appear, which PostgreSQL reads as positions and SQLite as parameters
// bound in that order.
package sqldriver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackwave/stackwave/store"
)

// Kind classifies a database error.
type Kind int

// Error kinds.
const (
	Other Kind = iota
	// Retry: the whole transaction may be run again (a busy database, a
	// serialization failure, a deadlock).
	Retry
	// Unique: a uniqueness constraint refused a write.
	Unique
	// ForeignKey: a foreign-key constraint refused a write.
	ForeignKey
	// NoTransaction: a ROLLBACK found no transaction open.
	NoTransaction
	// Interrupted: the statement was interrupted because its context
	// ended.
	Interrupted
)

// Dialect is what differs between the databases.
type Dialect struct {
	// Begin starts a write transaction.
	Begin string
	// Migrations bring the schema from version i to i+1.
	Migrations []string
	// MigrationLock, when set, runs first in each migration transaction
	// and serializes migrators.
	MigrationLock string
	// MigrationsTable creates the table of applied migrations, if
	// missing: schema_migrations (version, applied_at).
	MigrationsTable string
	// ReadIsolation is the isolation of multi-statement reads.
	ReadIsolation sql.IsolationLevel
	// Time encodes a record time for a column; EventTime an event's.
	Time, EventTime func(time.Time) any
	// JSON returns the expression that reads a JSON column as text.
	JSON func(col string) string
	// Contains returns the condition "haystack contains the parameter".
	Contains func(haystack, param string) string
	// Classify says what kind of error err is.
	Classify func(err error) Kind
	// Now, when set, is a query that reads the server's clock.
	Now string
	// Notify, when set, is a statement that sends its one parameter to
	// the listeners of every process when the transaction commits; Listen
	// receives them (see store.Notifier).
	Notify string
	Listen func(ctx context.Context, fn func(key string)) error
	// EventRows is how many events one INSERT writes: many saves round
	// trips to a server; SQLite binds many parameters slowly.
	EventRows int
	// Param, when set, writes the placeholder of the i-th parameter of a
	// many-row INSERT, where each is used once in order (SQLite binds
	// anonymous "?" fastest); else "$i".
	Param func(i int) string
	// CacheStatements prepares each write statement once on the
	// pinned writer connection (SQLite); otherwise the database/sql
	// driver caches them (pgx does).
	CacheStatements bool
}

// Config is how the driver reaches its database.
type Config struct {
	// Reads is the pool that serves reads.
	Reads *sql.DB
	// Writes is the pool of write transactions. With Pinned set it has
	// one connection, kept for the driver's life, and writers queue for
	// it, urgent ones first.
	Writes *sql.DB
	Pinned bool
	// Urgent, when set, is the pool of urgent write transactions
	// (store.TxOptions.Urgent).
	Urgent *sql.DB
	// OnClose runs after the pools are closed.
	OnClose func() error
}

// Driver is a store.Driver over database/sql.
type Driver struct {
	dl     *Dialect
	cfg    Config
	closed atomic.Bool
	rstmts sync.Map // query -> *sql.Stmt on cfg.Reads

	queue  *queue    // with Pinned: the writers waiting for the connection
	pinned *sql.Conn // guarded by queue
	wstmts map[string]*sql.Stmt
}

var (
	_ store.Driver     = (*Driver)(nil)
	_ store.Clock      = (*Driver)(nil)
	_ store.Notifier   = (*Driver)(nil)
	_ store.TxNotifier = (*tx)(nil)
)

// Open returns a driver over cfg's pools and brings the schema up to
// date.
func Open(ctx context.Context, dl *Dialect, cfg Config) (*Driver, error) {
	d := &Driver{dl: dl, cfg: cfg}
	if cfg.Pinned {
		d.queue = newQueue()
	}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close implements store.Driver. It waits for the write in progress.
func (d *Driver) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	var err error
	if d.queue != nil {
		d.queue.acquire(context.Background(), true)
		if d.pinned != nil {
			err = d.pinned.Close()
			d.pinned = nil
		}
		d.queue.release()
	}
	d.rstmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	for _, db := range []*sql.DB{d.cfg.Reads, d.cfg.Writes, d.cfg.Urgent} {
		if db != nil {
			err = errors.Join(err, db.Close())
		}
	}
	if d.cfg.OnClose != nil {
		err = errors.Join(err, d.cfg.OnClose())
	}
	return err
}

// Now implements store.Clock.
func (d *Driver) Now(ctx context.Context) (time.Time, error) {
	if d.dl.Now == "" {
		return time.Time{}, errors.ErrUnsupported
	}
	var t time.Time
	err := d.read(ctx, func() error {
		return d.cfg.Reads.QueryRowContext(ctx, d.dl.Now).Scan(&t)
	})
	return t, err
}

// read runs fn, again while the database is busy, and maps its error.
func (d *Driver) read(ctx context.Context, fn func() error) error {
	if d.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.retry(ctx, fn)
}

// readTx runs fn in a read transaction, so that its statements see one
// snapshot. The transaction is begun without ctx: a BEGIN cancelled as
// it ran could report failure having opened a transaction, which the
// pool would then hand out to later reads; the statements run under ctx,
// and the transaction always ends.
func (d *Driver) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return d.read(ctx, func() error {
		tx, err := d.cfg.Reads.BeginTx(context.WithoutCancel(ctx), &sql.TxOptions{ReadOnly: true, Isolation: d.dl.ReadIsolation})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		return fn(tx)
	})
}

// rstmt returns the read statement for query, prepared once.
func (d *Driver) rstmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := d.rstmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.cfg.Reads.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.rstmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs a one-row read.
func (d *Driver) queryRow(ctx context.Context, query string, args ...any) row {
	st, err := d.rstmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// Update implements store.Driver.
func (d *Driver) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	if d.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	urgent := opts != nil && opts.Urgent
	if d.queue != nil {
		if err := d.queue.acquire(ctx, urgent); err != nil {
			return err
		}
		defer d.queue.release()
		if d.closed.Load() {
			return store.ErrClosed
		}
	}
	return d.retry(ctx, func() error {
		conn, cache, done, err := d.writer(ctx, urgent)
		if err != nil {
			return err
		}
		bad := false
		err = d.writeTx(ctx, conn, cache, fn, &bad)
		done(bad)
		return err
	})
}

// writer returns the connection of a write transaction, its statement
// cache (nil when statements are not cached) and what to call when done
// with it (bad: the connection must not be used again).
func (d *Driver) writer(ctx context.Context, urgent bool) (*sql.Conn, map[string]*sql.Stmt, func(bad bool), error) {
	if d.cfg.Pinned {
		if d.pinned == nil {
			c, err := d.cfg.Writes.Conn(ctx)
			if err != nil {
				return nil, nil, nil, err
			}
			d.pinned, d.wstmts = c, map[string]*sql.Stmt{}
		}
		cache := d.wstmts
		if !d.dl.CacheStatements {
			cache = nil
		}
		return d.pinned, cache, func(bad bool) {
			if bad {
				discard(d.pinned)
				d.pinned, d.wstmts = nil, nil
			}
		}, nil
	}
	db := d.cfg.Writes
	if urgent && d.cfg.Urgent != nil {
		db = d.cfg.Urgent
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, nil, func(bad bool) {
		if bad {
			discard(c)
			return
		}
		c.Close()
	}, nil
}

// discard closes a connection whose state is unknown, so that the pool
// never hands it out again.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	c.Close()
}

// writeTx runs one attempt of a write transaction on conn.
//
// Every path that does not commit ends in a ROLLBACK, also when BEGIN
// failed: a BEGIN whose context ended as it ran may have opened the
// transaction all the same, and a connection left in it refuses every
// later BEGIN. COMMIT runs without the caller's context: once the
// transaction is whole the write is made, and reported as made, rather
// than interrupted into an error that hides whether it happened.
func (d *Driver) writeTx(ctx context.Context, conn *sql.Conn, cache map[string]*sql.Stmt, fn func(store.Tx) error, bad *bool) (err error) {
	rollback := func() {
		_, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		if rerr != nil && d.dl.Classify(rerr) != NoTransaction {
			*bad = true // its state is unknown
		}
	}
	if _, err := conn.ExecContext(ctx, d.dl.Begin); err != nil {
		rollback()
		return err
	}
	t := &tx{ctx: ctx, d: d, conn: conn, cache: cache}
	err = fn(t)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		rollback()
		return err
	}
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		rollback()
		return err
	}
	return nil
}

// retry runs fn until it succeeds, fails with an error that is not
// transient, or ctx is done, and maps the error.
func (d *Driver) retry(ctx context.Context, fn func() error) error {
	delay := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || d.dl.Classify(err) != Retry {
			return d.mapErr(ctx, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// mapErr turns what the database says into the store's errors, leaving
// the store's own errors as they are.
func (d *Driver) mapErr(ctx context.Context, err error) error {
	switch {
	case err == nil || isStoreErr(err):
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	case d.closed.Load():
		return store.ErrClosed
	}
	switch d.dl.Classify(err) {
	case Unique:
		return fmt.Errorf("%w (%v)", store.ErrAlreadyExists, err)
	case ForeignKey:
		return fmt.Errorf("%w: a record it refers to is missing (%v)", store.ErrNotFound, err)
	case Retry:
		return fmt.Errorf("%w (%v)", store.ErrConflict, err)
	}
	return err
}

func isStoreErr(err error) bool {
	for _, target := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrConflict, store.ErrInUse,
		store.ErrLeaseHeld, store.ErrInvalid, store.ErrClosed, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// Waiting returns how many writers wait for the pinned connection.
func (d *Driver) Waiting() int {
	if d.queue == nil {
		return 0
	}
	d.queue.mu.Lock()
	defer d.queue.mu.Unlock()
	return len(d.queue.urgent) + len(d.queue.normal)
}

// queue is a lock that writers wait for in order, urgent ones first.
type queue struct {
	mu             sync.Mutex
	held           bool
	urgent, normal []chan struct{}
}

func newQueue() *queue { return &queue{} }

func (q *queue) acquire(ctx context.Context, urgent bool) error {
	q.mu.Lock()
	if !q.held {
		q.held = true
		q.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if urgent {
		q.urgent = append(q.urgent, ch)
	} else {
		q.normal = append(q.normal, ch)
	}
	q.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		defer q.mu.Unlock()
		select {
		case <-ch: // granted meanwhile: pass it on
			q.releaseLocked()
		default:
			q.urgent = remove(q.urgent, ch)
			q.normal = remove(q.normal, ch)
		}
		return ctx.Err()
	}
}

func remove(s []chan struct{}, ch chan struct{}) []chan struct{} {
	for i, c := range s {
		if c == ch {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

func (q *queue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked()
}

func (q *queue) releaseLocked() {
	switch {
	case len(q.urgent) > 0:
		close(q.urgent[0])
		q.urgent = q.urgent[1:]
	case len(q.normal) > 0:
		close(q.normal[0])
		q.normal = q.normal[1:]
	default:
		q.held = false
	}
}

// row is what QueryRow returns.
type row interface{ Scan(...any) error }

// errRow is a row carrying the error of preparing its query.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// migrate brings the schema to the dialect's version, one migration per
// transaction.
func (d *Driver) migrate(ctx context.Context) error {
	// A database already at this program's schema, the usual case, needs
	// no write transaction (which would wait for the writer lock held by
	// any other process writing to the database): a read tells. Versions
	// only grow, so a current schema stays current.
	var current int
	err := d.read(ctx, func() error {
		return d.cfg.Reads.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current)
	})
	if err == nil && current == len(d.dl.Migrations) {
		return nil
	}
	for {
		done := false
		err := d.Update(ctx, nil, func(stx store.Tx) error {
			t := stx.(*tx)
			if d.dl.MigrationLock != "" {
				if _, err := t.conn.ExecContext(ctx, d.dl.MigrationLock); err != nil {
					return fmt.Errorf("take the migration lock: %w", err)
				}
			}
			if _, err := t.conn.ExecContext(ctx, d.dl.MigrationsTable); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			var current int
			if err := t.conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
			switch n := len(d.dl.Migrations); {
			case current > n:
				return fmt.Errorf("database schema version %d is newer than this program's %d: upgrade stackwave", current, n)
			case current == n:
				done = true
				return nil
			}
			if _, err := t.conn.ExecContext(ctx, d.dl.Migrations[current]); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", current+1, err)
			}
			if _, err := t.conn.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, current+1); err != nil {
				return fmt.Errorf("record schema version %d: %w", current+1, err)
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

// Notify implements store.TxNotifier: it sends key to the listeners of
// every process sharing the database at commit, when the dialect can.
func (t *tx) Notify(_ context.Context, key string) error {
	if t.d.dl.Notify == "" {
		return nil
	}
	_, err := t.exec(t.d.dl.Notify, key)
	return err
}

// Listen implements store.Notifier.
func (d *Driver) Listen(ctx context.Context, fn func(key string)) error {
	if d.dl.Listen == nil {
		return errors.ErrUnsupported
	}
	return d.dl.Listen(ctx, fn)
}
