package deploy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store"
)

// Sentinel errors of the executor. Errors of the store (store.ErrNotFound,
// store.ErrAlreadyExists...) and of the runtime (runtime.ErrFailed,
// runtime.ErrNotReady...) are wrapped, not replaced: errors.Is reaches
// them too.
var (
	// ErrBusy: another operation is in progress on the deployment: one
	// of this executor, or of another executor holding the lease.
	ErrBusy = errors.New("deployment busy: another operation holds its lease")
	// ErrInterrupted: the deployment has an operation that stopped
	// before it finished (its executor died); Resume it first.
	ErrInterrupted = errors.New("deployment has an interrupted operation")
	// ErrNothingToResume: the deployment has no interrupted operation.
	ErrNothingToResume = errors.New("nothing to resume")
	// ErrInvalidRequest: the request is incomplete or contradictory.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrSkipped: a stack was not started because a stack it depends on
	// failed, or because the operation stopped after a failure.
	ErrSkipped = errors.New("skipped")
	// ErrVersionInactive: a launch or update names a version that the
	// catalog marks inactive. Deployments already running it keep
	// running.
	ErrVersionInactive = errors.New("version is inactive")
	// ErrLeaseLost: the executor lost its lease mid-operation (another
	// executor took over after the lease expired) and stopped.
	ErrLeaseLost = errors.New("lease lost")
	// ErrHandedOver: Executor.Close stopped the operation and released
	// its lease, leaving it in progress for another executor (or this
	// process after a restart) to resume.
	ErrHandedOver = errors.New("operation handed over")
	// ErrClosed: the executor was closed; every method fails with it
	// from then on.
	ErrClosed = errors.New("executor closed")
	// ErrNoRuntime: the executor was made without a runtime, to preview
	// only; operations, Resume and Status need one.
	ErrNoRuntime = errors.New("executor has no runtime: it only previews")
)

// StackError is the failure of one stack in one phase of an operation.
type StackError struct {
	Stack string
	// Service is set when one service is to blame.
	Service string
	// Phase is "render", "apply", "wait", "init", "remove", "stop",
	// "start" or "restart".
	Phase string
	Err   error
}

func (e *StackError) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stack %s", e.Stack)
	var se *runtime.ServiceError
	if e.Service != "" && !errors.As(e.Err, &se) {
		fmt.Fprintf(&b, " service %s", e.Service)
	}
	fmt.Fprintf(&b, ": %s: %v", e.Phase, e.Err)
	return b.String()
}

func (e *StackError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// OperationError is the error of an operation that failed: every stack
// failure, aggregated. errors.Is and errors.As reach each cause.
type OperationError struct {
	Deployment  string
	OperationID string
	Op          store.OpType
	// Errors holds a *StackError per failure, in the order they happened;
	// a cancelled context or a lost lease appears as itself.
	Errors *multierror.Error
	// RolledBack is set when the Rollback policy undid the operation.
	RolledBack bool
}

func (e *OperationError) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%s) failed", e.Op, e.Deployment, e.OperationID)
	if e.RolledBack {
		b.WriteString(" and was rolled back")
	}
	errs := e.Unwrap()
	switch len(errs) {
	case 0:
	case 1:
		b.WriteString(": ")
		b.WriteString(errs[0].Error())
	default:
		fmt.Fprintf(&b, ": %d errors:", len(errs))
		for _, err := range errs {
			b.WriteString("\n  * ")
			b.WriteString(strings.ReplaceAll(err.Error(), "\n", "\n    "))
		}
	}
	return b.String()
}

// Unwrap returns every failure.
func (e *OperationError) Unwrap() []error {
	if e == nil || e.Errors == nil {
		return nil
	}
	return e.Errors.Errors
}
