package docker

import (
	"context"
	"errors"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
)

// MapError maps the engine's errors onto the runtime package's sentinels:
// not found, conflict, invalid argument, unavailable (including a
// connection to the engine that failed or broke), not implemented. It
// returns err unchanged when it knows none.
func (r *Runtime) MapError(err error) error {
	var sentinel error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		sentinel = runtime.ErrUnavailable
	case cerrdefs.IsNotFound(err):
		sentinel = runtime.ErrNotFound
	case cerrdefs.IsConflict(err) || cerrdefs.IsAlreadyExists(err):
		sentinel = runtime.ErrConflict
	case cerrdefs.IsInvalidArgument(err):
		sentinel = runtime.ErrInvalid
	case cerrdefs.IsNotImplemented(err):
		sentinel = runtime.ErrNotSupported
	default:
		return err
	}
	return runtime.WrapError(sentinel, err)
}

// contextWithoutCancel returns a context that outlives ctx's cancellation
// for a bounded cleanup.
func contextWithoutCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}
