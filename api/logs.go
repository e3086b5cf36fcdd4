package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store"
)

// Defaults of the bounds of a log response that does not follow.
const (
	DefaultMaxLogLines = 10_000
	DefaultMaxLogBytes = 8 << 20
)

// LogEntry is one record of a log response (NDJSON, one per line): a line
// an instance wrote, or, as the last record, why the response ended
// early: Truncated when it reached the server's bounds, Error when
// reading failed after the response had started.
type LogEntry struct {
	Stack    string `json:"stack,omitempty"`
	Service  string `json:"service,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Stream is "stdout" or "stderr", empty when the runtime records
	// both as one (Kubernetes).
	Stream string `json:"stream,omitempty"`
	// Time is when the runtime recorded the line; sent with
	// timestamps=true when the runtime knows it.
	Time time.Time `json:"time,omitzero"`
	Text string    `json:"text"`

	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
}

// ErrLogsTruncated ends a log stream that reached the server's bounds
// (Options.MaxLogLines, MaxLogBytes): more lines were selected than one
// response carries. It is runtime.ErrLogsTruncated, which
// runtime.LimitLogs returns, so that a bounded stream read from the
// runtime and one read through Client.Logs end alike.
var ErrLogsTruncated = runtime.ErrLogsTruncated

// streamLogs streams what the instances of a deployment wrote, as NDJSON
// LogEntry records, flushed line by line. Without follow the response is
// bounded by Options.MaxLogLines and MaxLogBytes; a last record with
// truncated set says it was cut. With follow it lasts until every
// selected instance stopped, the client goes or the server shuts down.
func (s *Server) streamLogs(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	q, timestamps, err := logQuery(c.q, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.r.Context())
	defer cancel()
	if _, err := s.st.GetDeployment(ctx, name); errors.Is(err, store.ErrNotFound) {
		return notFound("deployment", name)
	} else if err != nil {
		return err
	}
	rt := s.ex.Runtime()
	lr, ok := rt.(runtime.LogReader)
	if !ok {
		return newError(http.StatusNotImplemented, MsgNotImplemented,
			Detail{Type: TypeNotSupported, Detail: fmt.Sprintf("the %s runtime cannot read logs", rt.Name())})
	}
	// A log stream is bounded like an event stream: each write within
	// Options.StreamWriteTimeout, a place among Options.MaxStreams, ended
	// by CloseStreams.
	w, err := c.openStream()
	if err != nil {
		return err
	}
	defer w.Close()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	stream, err := lr.Logs(ctx, name, q)
	if err != nil {
		return logsError(runtime.MapError(rt, err))
	}
	defer stream.Close()

	h := c.w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	if err := w.Flush(); err != nil {
		return err
	}
	maxLines, maxBytes := s.opts.MaxLogLines, s.opts.MaxLogBytes
	if maxLines <= 0 {
		maxLines = DefaultMaxLogLines
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxLogBytes
	}
	var lines runtime.LogStream = stream
	if !q.Follow {
		lines = runtime.LimitLogs(stream, maxLines, maxBytes)
	}
	for {
		l, err := lines.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, runtime.ErrLogsTruncated) {
			b, _ := marshal(&LogEntry{Truncated: true, Text: fmt.Sprintf(
				"the response stops at %d lines or %d bytes; narrow it with tail, since, stack, service or instance, or follow", maxLines, maxBytes)})
			w.Write(b)
			return w.Flush()
		}
		if err != nil {
			if ctx.Err() != nil {
				return err // the client went or the server shuts down
			}
			b, _ := marshal(&LogEntry{Error: runtime.MapError(rt, err).Error()})
			w.Write(b)
			w.Flush()
			return err
		}
		e := LogEntry{Stack: l.Stack, Service: l.Service, Instance: l.Instance, Stream: string(l.Stream), Text: l.Text}
		if timestamps {
			e.Time = l.Time
		}
		b, err := marshal(&e)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// logQuery reads the query parameters of the logs route.
func logQuery(v url.Values, now time.Time) (runtime.LogQuery, bool, error) {
	var details []Detail
	bad := func(field, detail string) {
		details = append(details, Detail{Field: field, Type: TypeInvalid, Detail: detail})
	}
	q := runtime.LogQuery{Stack: v.Get("stack"), Service: v.Get("service"), Instance: v.Get("instance")}
	if q.Service != "" && q.Stack == "" {
		details = append(details, Detail{Field: "stack", Type: TypeRequired, Detail: "service needs its stack"})
	}
	if q.Instance != "" && q.Service == "" {
		details = append(details, Detail{Field: "service", Type: TypeRequired, Detail: "instance needs its service"})
	}
	flag := func(name string) bool {
		s := v.Get(name)
		if s == "" {
			return false
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad(name, fmt.Sprintf("must be true or false, got %q", s))
		}
		return b
	}
	q.Follow = flag("follow")
	timestamps := flag("timestamps")
	switch s := v.Get("tail"); s {
	case "", "all", "-1":
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			bad("tail", fmt.Sprintf("must be a number of lines (1 or more) or all, got %q", s))
		}
		q.Tail = n
	}
	if s := v.Get("since"); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			q.Since = t
		} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
			q.Since = now.Add(-d)
		} else {
			bad("since", fmt.Sprintf("must be an RFC 3339 time (2006-01-02T15:04:05Z) or a positive duration (10m), got %q", s))
		}
	}
	if len(details) > 0 {
		return q, false, newError(http.StatusBadRequest, MsgInvalidRequest, details...)
	}
	return q, timestamps, nil
}

// logsError turns an error of LogReader.Logs, mapped, into a response.
func logsError(err error) error {
	d := Detail{Detail: err.Error()}
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		d.Type = TypeNotFound
		return newError(http.StatusNotFound, MsgNotFound, d)
	case errors.Is(err, runtime.ErrInvalid):
		d.Type = TypeInvalid
		return newError(http.StatusBadRequest, MsgInvalidRequest, d)
	case errors.Is(err, runtime.ErrNotSupported):
		d.Type = TypeNotSupported
		return newError(http.StatusNotImplemented, MsgNotImplemented, d)
	case errors.Is(err, runtime.ErrUnavailable):
		return newError(http.StatusServiceUnavailable, http.StatusText(http.StatusServiceUnavailable),
			Detail{Type: "Unavailable", Detail: err.Error()}).withCause(err)
	}
	return err
}

// Logs reads what the instances of a deployment wrote, as
// GET /api/deployments/{name}/logs streams it: q selects the stack,
// service and instance, Follow, Since and Tail; lines carry their time
// when the runtime knows it. The stream's Next returns io.EOF at the end,
// an error wrapping ErrLogsTruncated when the response reached the
// server's bounds, and an *Error for an error record. Close it when done.
func (c *Client) Logs(ctx context.Context, name string, q runtime.LogQuery) (runtime.LogStream, error) {
	v := url.Values{"timestamps": {"true"}}
	for k, s := range map[string]string{"stack": q.Stack, "service": q.Service, "instance": q.Instance} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Follow {
		v.Set("follow", "true")
	}
	if q.Tail > 0 {
		v.Set("tail", strconv.Itoa(q.Tail))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	path := "/api/deployments/" + url.PathEscape(name) + "/logs?" + v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.send(req, path)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		if err != nil {
			return nil, fmt.Errorf("GET %s: read response: %w", path, err)
		}
		return nil, responseError(resp, data)
	}
	sc := bufio.NewScanner(resp.Body)
	// A record holds a line of up to runtime.MaxLogLine bytes, which
	// JSON may escape to six bytes each.
	sc.Buffer(make([]byte, 64<<10), 6*runtime.MaxLogLine+4096)
	return &clientLogStream{body: resp.Body, sc: sc, path: path}, nil
}

type clientLogStream struct {
	body   io.ReadCloser
	sc     *bufio.Scanner
	path   string
	end    error // read and written by Next alone
	closed atomic.Bool
}

func (s *clientLogStream) Next() (runtime.LogLine, error) {
	if s.closed.Load() {
		return runtime.LogLine{}, fmt.Errorf("logs: stream closed: %w", context.Canceled)
	}
	if s.end != nil {
		return runtime.LogLine{}, s.end
	}
	if !s.sc.Scan() {
		s.end = io.EOF
		if err := s.sc.Err(); err != nil {
			s.end = fmt.Errorf("GET %s: %w", s.path, err)
		}
		return runtime.LogLine{}, s.end
	}
	var e LogEntry
	if err := json.Unmarshal(s.sc.Bytes(), &e); err != nil {
		s.end = fmt.Errorf("GET %s: decode record: %w", s.path, err)
		return runtime.LogLine{}, s.end
	}
	switch {
	case e.Truncated:
		s.end = fmt.Errorf("%w: %s", ErrLogsTruncated, e.Text)
		return runtime.LogLine{}, s.end
	case e.Error != "":
		s.end = &Error{Status: http.StatusInternalServerError, Code: "500", Message: e.Error}
		return runtime.LogLine{}, s.end
	}
	return runtime.LogLine{Stack: e.Stack, Service: e.Service, Instance: e.Instance, Stream: runtime.Output(e.Stream), Time: e.Time, Text: e.Text}, nil
}

func (s *clientLogStream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.body.Close()
}
