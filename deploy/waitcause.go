package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/stackwave/stackwave/runtime"
)

// waitWatch keeps what a runtime last said about the services of one
// stack it waits for, so that a wait the operation stops (its timeout,
// a cancellation) names why the stack was not ready yet, not only the
// clock.
type waitWatch struct {
	mu      sync.Mutex
	waiting map[string]string // service: the last reason it is not ready
	order   []string
}

// reporter returns rep, noting the waiting reasons it carries.
func (w *waitWatch) reporter(rep runtime.Reporter) runtime.Reporter {
	return func(e runtime.Event) {
		switch e.Type {
		case runtime.EventServiceWaiting:
			if e.Service != "" && e.Message != "" {
				w.mu.Lock()
				if w.waiting == nil {
					w.waiting = map[string]string{}
				}
				if _, ok := w.waiting[e.Service]; !ok {
					w.order = append(w.order, e.Service)
				}
				w.waiting[e.Service] = e.Message
				w.mu.Unlock()
			}
		case runtime.EventServiceReady:
			w.mu.Lock()
			if _, ok := w.waiting[e.Service]; ok {
				delete(w.waiting, e.Service)
				w.order = slices.DeleteFunc(w.order, func(s string) bool { return s == e.Service })
			}
			w.mu.Unlock()
		}
		rep.Emit(e)
	}
}

// cause returns the runtime's last word on a wait that ctx stopped: the
// wait's error when it says more than that its context ended, else the
// waiting reasons last reported; "" when there is neither.
func (w *waitWatch) cause(ctx context.Context, err error) string {
	if err != nil && !onlyContext(ctx, err) {
		return err.Error()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.order) == 0 {
		return ""
	}
	why := make([]string, 0, len(w.order))
	for _, s := range w.order {
		why = append(why, "service "+s+": "+w.waiting[s])
	}
	return "still waiting: " + strings.Join(why, "; ")
}

// onlyContext reports whether err says no more than that ctx ended.
func onlyContext(ctx context.Context, err error) bool {
	msg := err.Error()
	for _, c := range []error{ctx.Err(), context.Cause(ctx), context.DeadlineExceeded, context.Canceled} {
		if c != nil && strings.HasSuffix(msg, c.Error()) {
			return true
		}
	}
	return false
}

// stoppedWaiting records a stack whose wait the operation's context
// stopped, with the runtime's last cause when there is one (redacted),
// for the stack's record and the operation's error, and returns the
// stack's message.
func (o *operation) stoppedWaiting(ctx context.Context, name string, w *waitWatch, err error) string {
	msg := "stopped waiting: " + context.Cause(ctx).Error()
	why := w.cause(ctx, err)
	if why == "" {
		return msg
	}
	why = o.redact.String(why)
	o.mu.Lock()
	if !strings.HasPrefix(why, "stack "+name+" ") {
		why = "stack " + name + ": " + why
	}
	o.waitCauses = append(o.waitCauses, why)
	o.mu.Unlock()
	return msg + "; " + why
}

// stopCause is the error of an operation whose context ended: its cause,
// with what the runtime last said of the stacks it was waiting for.
func (o *operation) stopCause(ctx context.Context) error {
	cause := context.Cause(ctx)
	o.mu.Lock()
	why := slices.Clone(o.waitCauses)
	o.mu.Unlock()
	if len(why) == 0 {
		return cause
	}
	return fmt.Errorf("%w; %s", cause, strings.Join(why, "; "))
}
