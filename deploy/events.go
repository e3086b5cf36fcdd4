package deploy

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store"
)

// EventType is the kind of an engine event.
type EventType string

// Event types. Service events come from the runtime and keep its names.
const (
	EventOperationStarted EventType = "operation-started"
	// EventOperationResumed: an executor took over an operation left in
	// progress (Resume); an operation has one operation-started, and one
	// operation-resumed per resume.
	EventOperationResumed EventType = "operation-resumed"
	EventOperationDone    EventType = "operation-done"
	EventOperationFailed  EventType = "operation-failed"
	// EventOperationHandedOver: the executor closed and left the
	// operation in progress for another one to resume.
	EventOperationHandedOver EventType = "operation-handed-over"
	EventRollbackStarted     EventType = "rollback-started"
	EventStackApplying       EventType = "stack-applying"
	EventStackWaiting        EventType = "stack-waiting"
	EventStackReady          EventType = "stack-ready"
	EventStackUnchanged      EventType = "stack-unchanged"
	EventStackFailed         EventType = "stack-failed"
	EventStackSkipped        EventType = "stack-skipped"
	EventStackRemoving       EventType = "stack-removing"
	EventStackRemoved        EventType = "stack-removed"
	EventStackStopped        EventType = "stack-stopped"
	// EventStackRepair announces that an operation applies a stack again
	// (or removes a left-over stack) because the record or the runtime
	// differs from what is wanted; the message says why.
	EventStackRepair EventType = "stack-repair"
	EventInitScript  EventType = "init-script"

	EventServiceCreated   = EventType(runtime.EventServiceCreated)
	EventServiceReplaced  = EventType(runtime.EventServiceReplaced)
	EventServiceUnchanged = EventType(runtime.EventServiceUnchanged)
	EventServiceRemoved   = EventType(runtime.EventServiceRemoved)
	EventServiceScaled    = EventType(runtime.EventServiceScaled)
	EventServiceWaiting   = EventType(runtime.EventServiceWaiting)
	EventServiceReady     = EventType(runtime.EventServiceReady)
	EventServiceFailed    = EventType(runtime.EventServiceFailed)
)

// Event is something that happened during an operation. Messages never
// contain env values.
type Event struct {
	Type        EventType `json:"type"`
	Deployment  string    `json:"deployment"`
	OperationID string    `json:"operation_id"`
	Stack       string    `json:"stack_name,omitempty"`
	Service     string    `json:"service_name,omitempty"`
	Time        time.Time `json:"time"`
	Message     string    `json:"message,omitempty"`
}

// String renders the event on one line:
// "12:00:01.234 kodo stack-ready kodo-1: 2 services ready".
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Time.Format("15:04:05.000"))
	b.WriteByte(' ')
	b.WriteString(e.Deployment)
	b.WriteByte(' ')
	b.WriteString(string(e.Type))
	if e.Stack != "" {
		b.WriteByte(' ')
		b.WriteString(e.Stack)
		if e.Service != "" {
			b.WriteByte('/')
			b.WriteString(e.Service)
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e Event) record() store.Event {
	return store.Event{OperationID: e.OperationID, Time: e.Time, Type: string(e.Type), Stack: e.Stack, Service: e.Service, Message: e.Message}
}

// dispatcher delivers events to the caller's callback and channel from
// its own goroutine, through an unbounded queue, so a slow consumer never
// blocks the engine. close waits until every event was delivered.
type dispatcher struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []Event
	closed bool
	done   chan struct{}
	sinks  []func(Event)
	redact *redact.Redactor
}

func newDispatcher(red *redact.Redactor, sinks ...func(Event)) *dispatcher {
	d := &dispatcher{done: make(chan struct{}), redact: red}
	d.cond = sync.NewCond(&d.mu)
	for _, s := range sinks {
		if s != nil {
			d.sinks = append(d.sinks, s)
		}
	}
	go d.loop()
	return d
}

func (d *dispatcher) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Message = d.redact.String(e.Message)
	d.mu.Lock()
	if !d.closed {
		d.queue = append(d.queue, e)
		d.cond.Signal()
	}
	d.mu.Unlock()
}

func (d *dispatcher) loop() {
	defer close(d.done)
	var batch []Event
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.cond.Wait()
		}
		if len(d.queue) == 0 && d.closed {
			d.mu.Unlock()
			return
		}
		batch, d.queue = d.queue, batch[:0]
		d.mu.Unlock()
		for _, e := range batch {
			for _, s := range d.sinks {
				s(e)
			}
		}
	}
}

// close stops accepting events and waits until the queued ones are
// delivered.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.cond.Signal()
	d.mu.Unlock()
	<-d.done
}

func eventf(t EventType, stackName, service, format string, args ...any) Event {
	return Event{Type: t, Stack: stackName, Service: service, Message: fmt.Sprintf(format, args...)}
}
