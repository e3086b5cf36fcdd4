package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// Sentinel errors. Match them with errors.Is after MapError.
var (
	// ErrNotFound: the stack, service or object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotReady: a service did not become ready in time.
	ErrNotReady = errors.New("not ready")
	// ErrFailed: a service failed: it exited, was killed, crash-loops.
	ErrFailed = errors.New("service failed")
	// ErrImage: an image is missing and cannot be pulled.
	ErrImage = errors.New("image unavailable")
	// ErrUnavailable: the runtime's engine or API cannot be reached.
	ErrUnavailable = errors.New("runtime unavailable")
	// ErrConflict: an object changed or exists with other owners.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the spec cannot be run by this runtime.
	ErrInvalid = errors.New("invalid spec")
	// ErrNotSupported: the runtime lacks the capability.
	ErrNotSupported = errors.New("not supported")
)

// ServiceError reports a service that failed or did not become ready,
// with what the runtime knows of why.
type ServiceError struct {
	Deployment string
	Stack      string
	Service    string
	Instance   string
	// Reason is short and machine-friendly: "Exited", "OOMKilled",
	// "CrashLoopBackOff", "ImagePullBackOff", "Timeout", ...
	Reason   string
	ExitCode int
	// Logs are the last lines the instance wrote, oldest first.
	Logs []string
	// Err is the sentinel or cause (ErrFailed, ErrNotReady, ErrImage...).
	Err error
}

func (e *ServiceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stack %s service %s", e.Stack, e.Service)
	if e.Instance != "" {
		fmt.Fprintf(&b, " (%s)", e.Instance)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if e.ExitCode != 0 {
		fmt.Fprintf(&b, " (exit code %d)", e.ExitCode)
	}
	if len(e.Logs) > 0 {
		b.WriteString("; last log lines:\n  ")
		b.WriteString(strings.Join(e.Logs, "\n  "))
	}
	return b.String()
}

func (e *ServiceError) Unwrap() error { return e.Err }

// MapError turns a runtime's native error into one matching this
// package's sentinels: the runtime's own ErrorMapper first, then what any
// runtime may return (context errors stay as they are, refused or broken
// connections become ErrUnavailable). Errors already matching a sentinel
// are returned unchanged.
func MapError(rt Runtime, err error) error {
	if err == nil || isSentinel(err) {
		return err
	}
	if m, ok := rt.(ErrorMapper); ok {
		if mapped := m.MapError(err); mapped != nil && isSentinel(mapped) {
			return mapped
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ENOENT) && strings.Contains(err.Error(), "sock") {
		return &mappedError{sentinel: ErrUnavailable, err: err}
	}
	return err
}

var sentinels = []error{ErrNotFound, ErrNotReady, ErrFailed, ErrImage, ErrUnavailable, ErrConflict, ErrInvalid, ErrNotSupported}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// WrapError returns err annotated so that errors.Is(result, sentinel)
// holds, keeping err reachable with errors.As and its message unchanged.
func WrapError(sentinel, err error) error {
	if err == nil {
		return nil
	}
	return &mappedError{sentinel: sentinel, err: err}
}

type mappedError struct {
	sentinel error
	err      error
}

func (e *mappedError) Error() string   { return e.sentinel.Error() + ": " + e.err.Error() }
func (e *mappedError) Unwrap() []error { return []error{e.sentinel, e.err} }
