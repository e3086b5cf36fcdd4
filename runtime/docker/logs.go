package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
)

// Logs reads what the containers of a deployment wrote, as
// runtime.LogReader says: every container of each selected service,
// running or exited, through the engine's log endpoint, with the
// multiplexed stdout and stderr demultiplexed by stdcopy. Lines carry the
// engine's timestamps. A container removed between the listing and the
// read gives no lines.
func (r *Runtime) Logs(ctx context.Context, deployment string, q runtime.LogQuery) (runtime.LogStream, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	ds, err := r.Observe(ctx, deployment)
	if err != nil {
		return nil, fmt.Errorf("logs of deployment %s: %w", deployment, err)
	}
	targets, err := runtime.LogTargets(ds, q)
	if err != nil {
		return nil, err
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: q.Follow, Tail: "all"}
	if q.Tail > 0 {
		opts.Tail = strconv.Itoa(q.Tail)
	}
	if !q.Since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", q.Since.Unix(), q.Since.Nanosecond())
	}
	// Every body is opened before Logs returns, so that an engine that
	// cannot be reached fails the call rather than the stream; the
	// bodies close when rctx is cancelled.
	rctx, cancel := context.WithCancel(ctx)
	sources := make([]runtime.LogSource, 0, len(targets))
	for _, tg := range targets {
		id := tg.Instance.ID
		if id == "" {
			id = tg.Instance.Name
		}
		rc, err := r.cli.ContainerLogs(rctx, id, opts)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			cancel()
			return nil, fmt.Errorf("logs of container %s: %w", tg.Instance.Name, err)
		}
		context.AfterFunc(rctx, func() { rc.Close() })
		sources = append(sources, func(sctx context.Context, emit func(runtime.LogLine) error) error {
			defer rc.Close()
			// The stream's Close cancels sctx: the body must close then
			// too, or a followed container's read blocks until ctx ends.
			defer context.AfterFunc(sctx, func() { rc.Close() })()
			base := runtime.LogLine{Stack: tg.Stack, Service: tg.Service, Instance: tg.Instance.Name}
			out := &frameWriter{base: base, stream: runtime.Stdout, emit: emit}
			errw := &frameWriter{base: base, stream: runtime.Stderr, emit: emit}
			_, err := stdcopy.StdCopy(out, errw, rc)
			if err == nil {
				err = out.flush()
			}
			if err == nil {
				err = errw.flush()
			}
			switch {
			case err == nil:
				return nil
			case sctx.Err() != nil:
				return fmt.Errorf("logs of container %s: %w", tg.Instance.Name, sctx.Err())
			case errors.Is(err, errEmit):
				return err
			}
			return fmt.Errorf("logs of container %s: %w", tg.Instance.Name, r.MapError(err))
		})
	}
	return runtime.NewLogStream(ctx, q.Follow, sources, cancel), nil
}

// errEmit marks an error of the stream's consumer, returned as it is.
var errEmit = errors.New("log line not taken")

// frameWriter turns the frames of one output into lines. stdcopy writes
// each frame, one message of the engine's log with its timestamp in
// front, in one Write; a message without a newline at its end (the engine
// cuts long lines into partial messages) continues the line.
type frameWriter struct {
	base   runtime.LogLine
	stream runtime.Output
	emit   func(runtime.LogLine) error
	buf    []byte
	at     time.Time // of the line in buf
}

func (w *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	if i := bytes.IndexByte(p, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(p[:i])); err == nil {
			if len(w.buf) == 0 {
				w.at = t
			}
			p = p[i+1:]
		}
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			break
		}
		w.buf = append(w.buf, p[:i]...)
		p = p[i+1:]
		if err := w.whole(); err != nil {
			return 0, err
		}
	}
	for len(w.buf) >= runtime.MaxLogLine {
		if err := w.line(false); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// line emits the line in buf, or its first MaxLogLine bytes when not
// whole.
func (w *frameWriter) line(whole bool) error {
	b := w.buf
	if len(b) > runtime.MaxLogLine {
		b, whole = b[:runtime.MaxLogLine], false
	}
	if whole {
		b = bytes.TrimSuffix(b, []byte("\r"))
	}
	l := w.base
	l.Stream, l.Time, l.Text = w.stream, w.at, string(b)
	if err := w.emit(l); err != nil {
		return fmt.Errorf("%w: %w", errEmit, err)
	}
	if whole {
		w.buf = w.buf[:0]
	} else {
		w.buf = append(w.buf[:0], w.buf[len(b):]...)
	}
	return nil
}

// whole emits the line in buf, ended by a newline, in pieces when long.
func (w *frameWriter) whole() error {
	for {
		last := len(w.buf) <= runtime.MaxLogLine
		if err := w.line(true); err != nil || last {
			return err
		}
	}
}

// flush emits what is left of a last line without a newline.
func (w *frameWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	return w.whole()
}

var _ runtime.LogReader = (*Runtime)(nil)
