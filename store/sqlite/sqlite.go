// Package sqlite is the embedded store.Store, kept in one SQLite file
// (modernc.org/sqlite: pure Go, no cgo). It is stackwave's default store.
//
// The file is in WAL mode, so reads never wait for writes. Every write is
// one IMMEDIATE transaction: it takes the file's write lock when it
// begins, and waits up to Options.BusyTimeout for another connection or
// process to finish its own. Several processes may therefore share one
// file: names stay unique through UNIQUE constraints, and a revision is
// checked and bumped in the same UPDATE. Within a process, writes queue
// for a single connection instead of spinning on the lock.
//
// By default (SyncNormal) a write acknowledged by the store survives the
// process being killed at any moment, as the subprocess tests in this
// package show, but not necessarily a power loss; Options.Sync = SyncFull
// makes every commit wait for the disk and survive that too.
//
// The schema is versioned in code: Open applies the migrations the file
// lacks, each in its own transaction, and refuses a file written by a
// newer stackwave.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// Sync says how far a commit goes before a write is acknowledged.
type Sync int

const (
	// SyncNormal, the default, syncs the log to disk at checkpoints, not
	// on every commit: an acknowledged write survives a crash or kill of
	// the process (the log is in the operating system's hands), but the
	// last writes before an operating-system crash or a power loss may be
	// lost; the database is never left half-written. Commits are about
	// five times faster than with SyncFull.
	SyncNormal Sync = iota
	// SyncFull syncs the log to disk on every commit: an acknowledged
	// write survives a power loss too. Each write then waits for the
	// disk.
	SyncFull
)

// Options configure a Store. The zero value means the defaults.
type Options struct {
	// Now is the store's clock, which stamps records and judges lease
	// expiry; nil means time.Now. Processes sharing a file should share
	// a clock, as processes on one machine do.
	Now func() time.Time
	// MaxOperations caps each deployment's history; zero means
	// store.DefaultMaxOperations.
	MaxOperations int
	// Catalog lists the unit and volume types version specs may use; nil
	// means stack.DefaultCatalog().
	Catalog *stack.Catalog
	// BusyTimeout bounds how long a write waits for the write lock held
	// by another process; zero means 10 seconds.
	BusyTimeout time.Duration
	// Sync chooses durability against speed; the zero value is
	// SyncNormal.
	Sync Sync
	// MaxReaders is the number of connections that serve reads
	// concurrently; zero means 4.
	MaxReaders int
}

// Store is a store.Store in a SQLite file. It is safe for concurrent use
// by many goroutines and, through the same file, many processes.
type Store struct {
	now    func() time.Time
	maxOps int
	rules  *validate.Options

	r, w   *sql.DB // readers, and the pool of the one writer connection
	closed atomic.Bool
	rstmts sync.Map // query -> *sql.Stmt on r

	// wmu is held by the goroutine that writes; it guards wconn and
	// wstmts.
	wmu    chan struct{}
	wconn  *sql.Conn
	wstmts map[string]*sql.Stmt
}

var _ store.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating it if needed, and
// brings its schema up to date. opts may be nil.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	switch {
	case path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:"):
		return nil, store.Invalid("path", path, "must name a file; use store/memory for a store in memory")
	case strings.ContainsAny(path, "?#\x00"):
		return nil, store.Invalid("path", path, "must not contain '?', '#' or NUL")
	}
	s := &Store{now: time.Now, maxOps: store.DefaultMaxOperations, wmu: make(chan struct{}, 1)}
	if opts.Now != nil {
		s.now = opts.Now
	}
	if opts.MaxOperations > 0 {
		s.maxOps = opts.MaxOperations
	}
	if opts.Catalog != nil {
		s.rules = &validate.Options{Catalog: opts.Catalog}
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	syncMode := "NORMAL"
	if opts.Sync == SyncFull {
		syncMode = "FULL"
	}
	readers := opts.MaxReaders
	if readers <= 0 {
		readers = 4
	}

	common := url.Values{}
	common.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	common.Set("_foreign_keys", "1")
	wq := cloneValues(common)
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", syncMode)
	rq := cloneValues(common)
	rq.Set("_query_only", "1")

	w, err := openDB("file:"+path+"?"+wq.Encode(), 1)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.w = w
	if err := s.migrate(ctx); err != nil {
		s.closeWriter()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if s.r, err = openDB("file:"+path+"?"+rq.Encode(), readers); err != nil {
		s.closeWriter()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func openDB(dsn string, conns int) (*sql.DB, error) {
	c, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// Close closes the database. Calls after Close fail with store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.closeWriter()
	if s.r != nil {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// closeWriter closes the writer connection once the write in progress,
// if any, is done.
func (s *Store) closeWriter() error {
	s.wmu <- struct{}{}
	defer func() { <-s.wmu }()
	var err error
	if s.wconn != nil {
		err = s.wconn.Close()
		s.wconn = nil
	}
	return errors.Join(err, s.w.Close())
}

// stmt returns the statement for query prepared on db, preparing it once.
func stmt(ctx context.Context, db *sql.DB, cache *sync.Map, query string) (*sql.Stmt, error) {
	if st, ok := cache.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := cache.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs a one-row read.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	st, err := stmt(ctx, s.r, &s.rstmts, query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

// query runs a read.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := stmt(ctx, s.r, &s.rstmts, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// read runs fn, retrying while the database is busy, and maps the error.
func (s *Store) read(ctx context.Context, fn func() error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.retry(ctx, fn)
}

// wtx is a write transaction on the writer connection.
type wtx struct {
	ctx context.Context
	s   *Store
}

func (t *wtx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.s.wstmts[query]; ok {
		return st, nil
	}
	st, err := t.s.wconn.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.s.wstmts[query] = st
	return st, nil
}

func (t *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

// errRow is a *sql.Row-like result carrying a prepare error.
type row interface{ Scan(...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (t *wtx) queryRow(query string, args ...any) row {
	st, err := t.stmt(query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(t.ctx, args...)
}

// exists reports whether query returns a row.
func (t *wtx) exists(query string, args ...any) (bool, error) {
	var one int
	err := t.queryRow(query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// write runs fn in an IMMEDIATE transaction on the writer connection and
// commits it, retrying the whole transaction while the database is busy.
// Writers of this process queue for the connection; writers of other
// processes wait on the file lock (busy_timeout).
func (s *Store) write(ctx context.Context, fn func(t *wtx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wmu }()
	if s.closed.Load() {
		return store.ErrClosed
	}
	return s.retry(ctx, func() error {
		if s.wconn == nil {
			c, err := s.w.Conn(ctx)
			if err != nil {
				return err
			}
			s.wconn, s.wstmts = c, make(map[string]*sql.Stmt)
		}
		err := s.writeTx(ctx, fn)
		if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
			s.wconn.Close()
			s.wconn = nil
		}
		return err
	})
}

func (s *Store) writeTx(ctx context.Context, fn func(t *wtx) error) error {
	if _, err := s.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err := fn(&wtx{ctx: ctx, s: s})
	if err == nil {
		_, err = s.wconn.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		// Fails harmlessly when SQLite already rolled back.
		s.wconn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	}
	return err
}

// retry runs fn until it succeeds, fails with something other than
// SQLITE_BUSY, or ctx is done, and maps the error.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	delay := time.Millisecond
	for {
		err := fn()
		if !isBusy(err) {
			return s.mapErr(ctx, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

func isBusy(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// mapErr turns what the database says into the store's errors, leaving
// the store's own errors as they are.
func (s *Store) mapErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && !isStoreErr(err):
		return ctx.Err()
	case s.closed.Load() && (errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "database is closed")):
		return store.ErrClosed
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w (%v)", store.ErrAlreadyExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: a record it refers to is missing, or one refers to it (%v)", store.ErrNotFound, err)
		case sqlite3.SQLITE_INTERRUPT:
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return err
}

func isStoreErr(err error) bool {
	for _, target := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrConflict, store.ErrInUse, store.ErrLeaseHeld, store.ErrInvalid} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// Encoding

func ts(t time.Time) int64 { return t.UnixNano() }

func tm(n int64) time.Time { return time.Unix(0, n).UTC() }

func (s *Store) clock() time.Time { return s.now().Round(0).UTC() }

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

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullString scans a nullable TEXT column into a string.
type nullString struct{ s *string }

func (n nullString) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*n.s = ""
	case string:
		*n.s = v
	case []byte:
		*n.s = string(v)
	default:
		return fmt.Errorf("unexpected %T for a text column", v)
	}
	return nil
}
