package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/store"
)

// eventBatch bounds the events read from the store at once.
const eventBatch = 2000

// heartbeatInterval spaces the comments that keep an idle stream open
// through proxies.
const heartbeatInterval = 15 * time.Second

// caughtUpComment is the comment an event stream sends once it has
// replayed the stored events of an operation that still runs, before it
// waits for more. EventSource ignores comments.
const caughtUpComment = ": caught-up\n\n"

// retryMillis tells EventSource clients how soon to reconnect.
const retryMillis = 2000

// streamEvents streams a deployment's events as Server-Sent Events: one
// operation's (operation_id, by default the last operation), replayed
// from the store's log after the sequence number of the Last-Event-ID
// header or the after_seq parameter, then followed as they are appended,
// until the operation ends, the client goes or the server shuts down.
//
// A stream of an operation that has ended replays its events and ends. A
// client that reconnects (with Last-Event-ID) after having seen the end
// gets 204 No Content, which tells EventSource to stop reconnecting.
//
// Nothing polls: the stream subscribes to the deployment
// (*store.Store.SubscribeEvents), and appends and record changes wake it
// at once, also when another replica runs the operation (PostgreSQL).
func (s *Server) streamEvents(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	q := c.q
	ctx := c.r.Context()
	var after int64
	resumed := false
	if v := c.r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return newError(http.StatusBadRequest, MsgInvalidRequest, Detail{Field: "Last-Event-ID", Type: TypeInvalid, Detail: "must be an event sequence number"})
		}
		after, resumed = n, true
	} else if v := q.Get("after_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return invalid("after_seq", TypeInvalid, "must be an event sequence number (0 or more)")
		}
		after = n
	}

	d, err := s.st.GetDeployment(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("deployment", name)
	}
	if err != nil {
		return err
	}
	opID := q.Get("operation_id")
	var op *store.Operation
	if opID == "" {
		op = d.LastOperation()
		if op != nil {
			opID = op.ID
		}
	} else {
		op = d.Operation(opID)
	}
	// Subscribed before the reads that follow, the stream misses no
	// append and no end of the operation.
	sub, err := s.st.SubscribeEvents(ctx, name, store.EventQuery{OperationID: opID, AfterSeq: after, Limit: eventBatch})
	if err != nil {
		return err
	}
	defer sub.Close()
	running := op != nil && op.Status == store.OpInProgress
	if running {
		// The record was read before the subscription: an operation
		// that ended in between without its last event in the log
		// would leave the stream waiting for a change that was made
		// already. Its last events are written with the record that
		// says it ended, so they are all read below.
		d, err := s.st.GetDeployment(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return notFound("deployment", name)
		case err != nil:
			return err
		}
		cur := d.Operation(opID)
		running = cur != nil && cur.Status == store.OpInProgress
	}
	evs, err := s.events(c, sub, name)
	if err != nil {
		return err
	}
	if op == nil && len(evs) == 0 && after == 0 {
		// Not in the (capped) history and nothing in the log.
		if opID == "" {
			return notFound("operation of deployment", name)
		}
		return notFound("operation", opID)
	}
	if resumed && len(evs) == 0 && !running {
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}

	w, err := c.openStream()
	if err != nil {
		return err
	}
	defer w.Close()
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // no buffering in nginx
	c.w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", retryMillis); err != nil {
		return err
	}

	heartbeat := time.NewTimer(heartbeatInterval)
	defer heartbeat.Stop()
	// ended is set once the record shows the operation ended: the
	// executor writes an operation's last events with its final record,
	// in one transaction, so one more read then finds every event there
	// is.
	ended, caughtUp := false, false
	for {
		for _, e := range evs {
			if err := writeEvent(w, name, e); err != nil {
				return err
			}
			heartbeat.Reset(heartbeatInterval)
			if e.OperationID == opID && (e.Type == string(deploy.EventOperationDone) || e.Type == string(deploy.EventOperationFailed)) {
				// The record that ends the operation was written
				// with this event: a client that reads it next sees
				// the outcome.
				return w.Flush()
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if len(evs) == eventBatch {
			if evs, err = s.events(c, sub, name); err != nil {
				return err
			}
			continue
		}
		if !running || ended {
			return nil
		}
		if !caughtUp {
			// The stored events are sent: say so, for a client that
			// shows history apart from what comes live.
			caughtUp = true
			if _, err := fmt.Fprint(w, caughtUpComment); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return err
			}
			heartbeat.Reset(heartbeatInterval)
			evs = nil
			continue
		case _, ok := <-sub.Changed():
			if !ok {
				return nil // the store closed
			}
		}
		if evs, err = s.events(c, sub, name); err != nil {
			return err
		}
		if len(evs) > 0 {
			continue
		}
		// A change without an event: did the operation end without its
		// last event reaching the log, or the record go away?
		d, err := s.st.GetDeployment(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		if cur := d.Operation(opID); cur == nil || cur.Status != store.OpInProgress {
			ended = true
			if evs, err = s.events(c, sub, name); err != nil {
				return err
			}
		}
	}
}

// events reads the next batch of an operation's events.
func (s *Server) events(c *call, sub *store.EventSubscription, name string) ([]store.Event, error) {
	evs, err := sub.Fetch(c.r.Context())
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("deployment", name)
	}
	return evs, err
}

func writeEvent(w io.Writer, deployment string, e store.Event) error {
	data, err := marshal(Event{Deployment: deployment, Event: e})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\ndata: %s\n", e.Seq, data) // data ends with a newline
	return err
}
