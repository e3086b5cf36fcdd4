package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of the stream bounds of Options.
const (
	DefaultStreamWriteTimeout     = 10 * time.Second
	DefaultMaxStreams             = 1024
	DefaultMaxStreamsPerPrincipal = 64
)

// errStreamClosed ends a stream that the server closed.
var errStreamClosed = errors.New("the server closed the stream")

// streams counts the long-lived responses in progress, in total and per
// principal, and closes them on shutdown.
type streams struct {
	mu     sync.Mutex
	open   map[*stream]struct{}
	per    map[string]int
	closed bool
}

// stream is one long-lived response (an event stream, a log stream): a
// route that streams opens one with call.openStream, writes through it
// and closes it when done. Each write and flush must complete within
// Options.StreamWriteTimeout (a client that does not read is dropped);
// Server.CloseStreams ends it, also in the middle of a blocked write.
type stream struct {
	c         *call
	rc        *http.ResponseController
	timeout   time.Duration
	principal string

	mu     sync.Mutex
	closed bool
	broken bool // a write failed
}

// openStream takes a place among the streams, or answers 429 when the
// caller, or the server, has as many as Options allow, and 503 once the
// server is closing its streams. It lifts the server's read and write
// timeouts for the response, which the stream's own write deadline then
// bounds.
func (c *call) openStream() (*stream, error) {
	s := c.s
	principal := ""
	if c.principal != nil {
		principal = c.principal.Name
	}
	st := &stream{c: c, rc: http.NewResponseController(c.w), timeout: s.opts.StreamWriteTimeout, principal: principal}
	ss := &s.streams
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return nil, newError(http.StatusServiceUnavailable, MsgUnavailable,
			Detail{Type: TypeUnavailable, Detail: "the server is shutting down"})
	}
	if max := s.opts.MaxStreams; max > 0 && len(ss.open) >= max {
		return nil, c.tooManyStreams(fmt.Sprintf("the server serves at most %d streams at once", max))
	}
	if max := s.opts.MaxStreamsPerPrincipal; max > 0 && ss.per[principal] >= max {
		return nil, c.tooManyStreams(fmt.Sprintf("a caller may hold at most %d streams at once", max))
	}
	if ss.open == nil {
		ss.open, ss.per = map[*stream]struct{}{}, map[string]int{}
	}
	ss.open[st] = struct{}{}
	ss.per[principal]++
	_ = st.rc.SetReadDeadline(time.Time{})
	_ = st.rc.SetWriteDeadline(time.Time{})
	return st, nil
}

func (c *call) tooManyStreams(why string) *Error {
	c.w.Header().Set("Retry-After", strconv.Itoa(retryMillis/1000))
	return newError(http.StatusTooManyRequests, MsgTooManyRequests,
		Detail{Type: TypeTooMany, Detail: why + "; retry when one has ended"})
}

// Write writes to the response within the write timeout.
func (st *stream) Write(b []byte) (int, error) {
	if err := st.arm(); err != nil {
		return 0, err
	}
	n, err := st.c.w.Write(b)
	st.failed(err)
	return n, err
}

// failed records a failed write: the connection is then done for, and
// its deadline stays.
func (st *stream) failed(err error) {
	if err != nil {
		st.mu.Lock()
		st.broken = true
		st.mu.Unlock()
	}
}

// Flush sends what was written within the write timeout.
func (st *stream) Flush() error {
	if err := st.arm(); err != nil {
		return err
	}
	err := st.rc.Flush()
	st.failed(err)
	return err
}

// arm sets the write deadline of the next write, unless the server
// closed the stream.
func (st *stream) arm() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return errStreamClosed
	}
	if st.timeout > 0 {
		_ = st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	}
	return nil
}

// kill makes the stream's writes fail at once, a blocked one included.
func (st *stream) kill() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	_ = st.rc.SetWriteDeadline(time.Unix(1, 0))
}

// Close gives the stream's place back, and lifts the write deadline of a
// stream that ended well, which would otherwise outlive it on a
// kept-alive connection of a server without WriteTimeout.
func (st *stream) Close() {
	st.mu.Lock()
	if !st.closed && !st.broken {
		_ = st.rc.SetWriteDeadline(time.Time{})
	}
	st.mu.Unlock()
	ss := &st.c.s.streams
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.open[st]; !ok {
		return
	}
	delete(ss.open, st)
	if ss.per[st.principal]--; ss.per[st.principal] == 0 {
		delete(ss.per, st.principal)
	}
}

// closeAll ends every stream and refuses new ones.
func (ss *streams) closeAll() {
	ss.mu.Lock()
	ss.closed = true
	open := make([]*stream, 0, len(ss.open))
	for st := range ss.open {
		open = append(open, st)
	}
	ss.mu.Unlock()
	for _, st := range open {
		st.kill()
	}
}

// count returns the number of open streams.
func (ss *streams) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.open)
}
