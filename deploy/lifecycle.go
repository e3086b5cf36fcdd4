package deploy

import (
	"context"
	"errors"
	"fmt"
)

// errNotNew is the error of every method of an Executor that New did
// not make (a zero Executor, a nil *Executor).
var errNotNew = errors.New("deploy: Executor not made by deploy.New")

// errNoStore is the error of every method of an executor made without a
// store.
var errNoStore = errors.New("deploy: executor has no store")

// enter admits a call of an exported method: it fails when the executor
// is not usable, closed, or lacks the runtime the call needs. Close
// waits for every call admitted, so each must be paired with leave.
func (e *Executor) enter(needRuntime bool) error {
	switch {
	case e == nil || e.bgCancel == nil:
		return errNotNew
	case e.st == nil:
		return errNoStore
	case needRuntime && e.rt == nil:
		return ErrNoRuntime
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.wg.Add(1)
	return nil
}

func (e *Executor) leave() { e.wg.Done() }

// opContext returns the context an operation runs on: parent's values
// and cancellation, and Close's, whose cause is ErrHandedOver.
func (e *Executor) opContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(e.bg, func() { cancel(context.Cause(e.bg)) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// noteCloseErr keeps the first error met while handing operations over
// on Close, for Close to return.
func (e *Executor) noteCloseErr(err error) {
	e.mu.Lock()
	if e.closeErr == nil {
		e.closeErr = err
	}
	e.mu.Unlock()
}

// Close stops the executor. Every operation in progress, whether started
// with Submit or called directly (Launch, Update...), is handed over, as
// a replica does on its way out (SIGTERM in a rolling restart): Close
// stops its work, records what it did, leaves it in progress (the
// deployment UnderChange) and releases its lease, so that another
// executor, or this process after a restart, resumes it at once
// (ResumeAll; the store's SubscribeReleases tells when). Such an
// operation ends with an error matching ErrHandedOver, returned by its
// method or its Handle. Close waits for all of that and for every other
// call in progress, and returns the first error met on the way (a
// hand-over that could not be recorded), else nil. From its call on,
// every method fails with ErrClosed; closing again waits likewise and
// returns the same. Close does not close the store or the runtime. It
// must not be called from an OnEvent callback: it would wait for the
// operation that waits for the callback.
func (e *Executor) Close() error {
	if e == nil || e.bgCancel == nil {
		return errNotNew
	}
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.bgCancel(ErrHandedOver)
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closeErr
}

// check reports a Handle that Submit did not make.
func (h *Handle) check() error {
	if h == nil || h.done == nil {
		return fmt.Errorf("deploy: Handle not made by Submit")
	}
	return nil
}

// closedChan is the Done channel of a Handle that Submit did not make.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// closedErr marks the error of an operation that Close stopped while it
// was being prepared (nothing was recorded) with ErrClosed.
func closedErr(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), ErrHandedOver) && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}
