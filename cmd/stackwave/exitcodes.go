package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// Exit codes, the same for a command run on the local store and runtime
// and for one run against a server (--server).
const (
	// exitOK: done, and the deployment converged.
	exitOK = 0
	// exitFailed: the operation failed or the deployment is not healthy.
	exitFailed = 1
	// exitUsage: the command line or the input (a document that cannot be
	// decoded or breaks the rules, a bad flag value) is wrong.
	exitUsage = 2
	// exitNotFound: the deployment, product, version or template named
	// does not exist.
	exitNotFound = 3
	// exitConflict: another operation holds the deployment, the record
	// changed, exists already or is in use, or the version is inactive.
	exitConflict = 4
	// exitUnreachable: the runtime, the store or the server cannot be
	// reached.
	exitUnreachable = 5
)

// codeOf returns the exit code an error calls for, from the sentinels of
// the packages (local mode) or the status of an API error (remote mode),
// so both modes exit alike.
func codeOf(err error) int {
	var ae *api.Error
	var ue *url.Error
	var ne net.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
			return exitUsage
		case http.StatusNotFound:
			return exitNotFound
		case http.StatusConflict, http.StatusLocked, http.StatusTooManyRequests:
			return exitConflict
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return exitUnreachable
		}
		return exitFailed
	case errors.Is(err, validate.ErrInvalid), errors.Is(err, store.ErrInvalid), errors.Is(err, deploy.ErrInvalidRequest),
		errors.Is(err, product.ErrInvalidArgs), errors.Is(err, runtime.ErrInvalid), errors.Is(err, errUnknownRuntime), errors.Is(err, errEphemeralRuntime), errors.Is(err, errFaultsNeedMemory):
		return exitUsage
	case errors.Is(err, store.ErrNotFound), errors.Is(err, runtime.ErrNotFound):
		return exitNotFound
	case errors.Is(err, deploy.ErrBusy), errors.Is(err, deploy.ErrInterrupted), errors.Is(err, deploy.ErrVersionInactive),
		errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrAlreadyExists), errors.Is(err, store.ErrInUse),
		errors.Is(err, store.ErrLeaseHeld):
		return exitConflict
	case errors.Is(err, errNoRuntime), errors.As(err, new(*unreachableError)), errors.Is(err, runtime.ErrUnavailable):
		return exitUnreachable
	case errors.As(err, &ue) && !errors.Is(err, context.Canceled), errors.As(err, &ne):
		// The server did not answer: refused, reset, timed out.
		return exitUnreachable
	}
	return exitFailed
}

// unreachableError is a runtime or store that does not answer.
type unreachableError struct{ error }

func (e *unreachableError) Unwrap() error { return e.error }

func unreachable(err error) error { return &unreachableError{err} }

// opCode is the exit code of an operation that ran and failed: 1, unless
// it was refused (busy, not found, invalid).
func opCode(err error) int {
	switch c := codeOf(err); c {
	case exitUsage, exitNotFound, exitConflict:
		return c
	}
	return exitFailed
}
