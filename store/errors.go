package store

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Drivers wrap them with context; match with errors.Is.
var (
	// ErrNotFound: no record has the given ID or name.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a record with the same unique name exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the record changed since it was read (stale revision).
	ErrConflict = errors.New("conflict: record changed since it was read")
	// ErrInUse: the record is referenced by a deployment and cannot be
	// deleted.
	ErrInUse = errors.New("in use")
	// ErrLeaseHeld: another owner holds an unexpired lease.
	ErrLeaseHeld = errors.New("lease held by another owner")
	// ErrInvalid: the input breaks a rule (empty or over-long name, page
	// size out of range...). The error is an *InvalidError.
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// InvalidError names the field and value of bad input. It matches
// ErrInvalid.
type InvalidError struct {
	Field  string
	Value  any
	Detail string
	// Err, when set, is the underlying problem: for a product, version or
	// template that breaks the rules, the *validate.Error listing every
	// field problem (Field, Value and Detail are its first one).
	Err error
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Field, fmt.Sprint(e.Value), e.Detail)
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns Err.
func (e *InvalidError) Unwrap() error { return e.Err }

// Invalid returns an *InvalidError.
func Invalid(field string, value any, detail string) error {
	return &InvalidError{Field: field, Value: value, Detail: detail}
}

// LeaseHeldError says who holds a lease. It matches ErrLeaseHeld.
type LeaseHeldError struct {
	Deployment string
	Owner      string
	ExpiresAt  time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("deployment %q: lease held by %q until %s", e.Deployment, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339Nano))
}

// Is reports whether target is ErrLeaseHeld.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }
