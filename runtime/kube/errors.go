package kube

import (
	"errors"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/stackwave/stackwave/runtime"
)

// MapError turns the API server's errors into the runtime package's
// sentinels; runtime.MapError calls it. NotFound and Gone map to
// runtime.ErrNotFound; Conflict and AlreadyExists to runtime.ErrConflict;
// Invalid and BadRequest to runtime.ErrInvalid; MethodNotSupported and
// NotAcceptable to runtime.ErrNotSupported; ServerTimeout, Timeout,
// TooManyRequests, ServiceUnavailable and InternalError, and connections
// refused, reset or cut short, to runtime.ErrUnavailable. Other errors
// (Forbidden, Unauthorized) are returned unchanged.
func (r *Runtime) MapError(err error) error {
	return mapError(err)
}

func mapError(err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case errors.Is(err, errClosed):
		sentinel = runtime.ErrUnavailable
	case apierrors.IsNotFound(err), apierrors.IsGone(err):
		sentinel = runtime.ErrNotFound
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		sentinel = runtime.ErrConflict
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		sentinel = runtime.ErrInvalid
	case apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err), apierrors.IsUnsupportedMediaType(err):
		sentinel = runtime.ErrNotSupported
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		sentinel = runtime.ErrUnavailable
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		sentinel = runtime.ErrUnavailable
	default:
		return err
	}
	return runtime.WrapError(sentinel, err)
}
