package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// LogReader is implemented by runtimes that can read what the instances
// of a deployment's services write to their standard output and error.
//
// Contract:
//
//   - Logs resolves q against what Observe reports before it returns:
//     a query that names a stack, service or instance that does not
//     exist, or a deployment with no stacks at all, fails with an error
//     matching ErrNotFound; a malformed query (see LogQuery.Check) with
//     one matching ErrInvalid. A runtime that cannot read an instance's
//     output at all (a node without a kubelet) fails with an error
//     matching ErrNotSupported. A service that has no instances, such
//     as one of a stopped stack on Kubernetes, gives no lines and no
//     error.
//   - The stream gives the lines of every selected instance, each
//     tagged with its stack, service, instance and Output (empty when
//     the back-end records stdout and stderr as one, as Kubernetes
//     does). Lines of one
//     instance come in the order it wrote them (stdout and stderr
//     interleaved as the runtime recorded them). Without Follow the
//     instances come one after another in the order Observe lists them
//     (stacks by tier then name, services by name, instances as
//     listed); with Follow lines of different instances interleave as
//     they arrive.
//   - Without Follow the stream ends, with io.EOF from Next, after the
//     last line written so far. With Follow it stays open for new lines
//     and ends with io.EOF once every selected instance has stopped
//     (exited, was stopped or removed); instances started later are not
//     picked up.
//   - When ctx is done, or Close was called, Next returns an error
//     wrapping ctx.Err() (context.Canceled after Close) promptly.
//   - Since and Tail apply to each instance: the last Tail lines of
//     those written at or after Since.
//   - A line is what the instance wrote up to a newline, without it (and
//     without a carriage return before it); a longer line than
//     MaxLogLine bytes is cut into pieces of that size. Nothing is added
//     to a line: stackwave never writes env values or other settings
//     into the output.
//   - Close releases what the stream holds; it may be called at any
//     time, more than once, and from another goroutine than Next.
type LogReader interface {
	Logs(ctx context.Context, deployment string, q LogQuery) (LogStream, error)
}

// LogQuery selects the lines Logs reads.
type LogQuery struct {
	// Stack, Service and Instance narrow the selection: empty Stack
	// reads every stack of the deployment, empty Service every service
	// of the stack, empty Instance every instance of the service.
	// Instance is an instance's name as Observe reports it (the
	// container or pod name).
	Stack, Service, Instance string
	// Follow keeps the stream open for lines written later.
	Follow bool
	// Since, when not zero, keeps the lines written at or after it.
	Since time.Time
	// Tail, when above zero, keeps the last Tail lines of each instance;
	// zero keeps them all.
	Tail int
}

// Check reports a malformed query with an error matching ErrInvalid that
// names the field.
func (q LogQuery) Check() error {
	switch {
	case q.Service != "" && q.Stack == "":
		return fmt.Errorf("%w: log query: service %q needs a stack", ErrInvalid, q.Service)
	case q.Instance != "" && q.Service == "":
		return fmt.Errorf("%w: log query: instance %q needs a service", ErrInvalid, q.Instance)
	case q.Tail < 0:
		return fmt.Errorf("%w: log query: tail %d is negative (0 keeps every line)", ErrInvalid, q.Tail)
	}
	return nil
}

// Output names the stream an instance wrote a line to.
type Output string

// The outputs of an instance.
const (
	Stdout Output = "stdout"
	Stderr Output = "stderr"
)

// MaxLogLine is the longest line, in bytes, a LogStream gives; longer
// lines are cut into pieces of this size.
const MaxLogLine = 64 << 10

// LogLine is one line an instance wrote.
type LogLine struct {
	Stack    string `json:"stack"`
	Service  string `json:"service"`
	Instance string `json:"instance"`
	// Stream is empty when the runtime cannot tell the outputs apart.
	Stream Output `json:"stream"`
	// Time is when the runtime recorded the line, zero when it does not
	// know.
	Time time.Time `json:"time,omitzero"`
	Text string    `json:"text"`
}

// LogStream gives the lines that Logs selected.
type LogStream interface {
	// Next returns the next line, io.EOF once there are no more, or the
	// error that ended the stream.
	Next() (LogLine, error)
	// Close ends the stream and releases what it holds.
	Close() error
}

// LogTarget is one instance whose output Logs reads.
type LogTarget struct {
	Stack, Service string
	Instance       InstanceState
}

// LogTargets resolves q against what Observe reported for a deployment:
// the instances to read, in the order of ds. It fails as LogReader's
// contract says for a malformed query or a selection that does not exist.
func LogTargets(ds *DeploymentState, q LogQuery) ([]LogTarget, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	if len(ds.Stacks) == 0 {
		return nil, fmt.Errorf("logs of deployment %s: %w: it has no stacks", ds.Deployment, ErrNotFound)
	}
	var out []LogTarget
	stackFound, serviceFound, instanceFound := false, false, false
	for _, st := range ds.Stacks {
		if q.Stack != "" && st.Name != q.Stack {
			continue
		}
		stackFound = true
		for _, svc := range st.Services {
			if q.Service != "" && svc.Name != q.Service {
				continue
			}
			serviceFound = true
			for _, in := range svc.Instances {
				if q.Instance != "" && in.Name != q.Instance {
					continue
				}
				instanceFound = true
				out = append(out, LogTarget{Stack: st.Name, Service: svc.Name, Instance: in})
			}
		}
	}
	switch {
	case !stackFound:
		return nil, fmt.Errorf("logs of deployment %s: %w: no stack %q", ds.Deployment, ErrNotFound, q.Stack)
	case q.Service != "" && !serviceFound:
		return nil, fmt.Errorf("logs of deployment %s: %w: stack %s has no service %q", ds.Deployment, ErrNotFound, q.Stack, q.Service)
	case q.Instance != "" && !instanceFound:
		return nil, fmt.Errorf("logs of deployment %s: %w: service %s/%s has no instance %q", ds.Deployment, ErrNotFound, q.Stack, q.Service, q.Instance)
	}
	return out, nil
}

// A LogSource reads one instance's output for NewLogStream. It calls emit
// with each line in order and returns when there are no more lines (with
// follow, when the instance stopped), when ctx is done (with an error
// wrapping ctx.Err()) or when emit fails (with emit's error).
type LogSource func(ctx context.Context, emit func(LogLine) error) error

// NewLogStream returns a LogStream over sources that keeps LogReader's
// contract: without follow it reads the sources one after another, with
// follow all at once; the first error of a source ends the stream.
// release, when not nil, is called once every source has returned, to
// free what the runtime opened for them. Runtimes implement Logs with it.
func NewLogStream(parent context.Context, follow bool, sources []LogSource, release func()) LogStream {
	ctx, cancel := context.WithCancel(parent)
	s := &logStream{parent: parent, cancel: cancel, lines: make(chan LogLine, 64), done: make(chan struct{})}
	emit := func(l LogLine) error {
		select {
		case s.lines <- l:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var wg sync.WaitGroup
	fail := func(err error) {
		if err != nil {
			s.once.Do(func() { s.err = err })
			cancel()
		}
	}
	if follow {
		for _, src := range sources {
			wg.Go(func() { fail(src(ctx, emit)) })
		}
	} else {
		wg.Go(func() {
			for _, src := range sources {
				if err := src(ctx, emit); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		cancel()
		if release != nil {
			release()
		}
		close(s.lines)
		close(s.done)
	}()
	return s
}

type logStream struct {
	parent context.Context
	cancel context.CancelFunc
	lines  chan LogLine
	done   chan struct{}
	once   sync.Once
	err    error // the first error of a source; read after done
	closed atomic.Bool
}

// Next prefers the lines already read to an error: the sources return
// promptly once the context is done, closing lines.
func (s *logStream) Next() (LogLine, error) {
	if s.closed.Load() {
		return LogLine{}, fmt.Errorf("logs: stream closed: %w", context.Canceled)
	}
	l, ok := <-s.lines
	if ok {
		return l, nil
	}
	<-s.done
	switch {
	case s.err != nil:
		return LogLine{}, s.err
	case s.parent.Err() != nil:
		return LogLine{}, fmt.Errorf("logs: %w", s.parent.Err())
	case s.closed.Load():
		return LogLine{}, fmt.Errorf("logs: stream closed: %w", context.Canceled)
	}
	return LogLine{}, io.EOF
}

func (s *logStream) Close() error {
	s.closed.Store(true)
	s.cancel()
	<-s.done
	return nil
}

// ScanLogLines reads r line by line as LogStream's contract says (no
// newline, no carriage return before it, lines cut at MaxLogLine bytes)
// and calls fn with each, until r ends, fn fails or r fails. A last line
// without a newline counts.
func ScanLogLines(r io.Reader, fn func(text string) error) error {
	br := bufio.NewReaderSize(r, MaxLogLine)
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 {
			full := b[len(b)-1] == '\n'
			if full {
				b = b[:len(b)-1]
				if n := len(b); n > 0 && b[n-1] == '\r' {
					b = b[:n-1]
				}
			}
			if ferr := fn(string(b)); ferr != nil {
				return ferr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

// ErrLogsTruncated ends a stream that LimitLogs cut at its bounds: more
// lines were selected than the reader lets through.
var ErrLogsTruncated = errors.New("log response truncated")

// LimitLogs returns a stream that gives the lines of s until the next
// one would take it past maxLines lines or maxBytes bytes, and then ends
// with an error wrapping ErrLogsTruncated; a stream that ends within the
// bounds ends as s does. A line counts as many bytes as its instance
// wrote: its Text plus one for the newline that ended it, whatever form a
// reader then prints it in (a JSON record, with a time). A bound of zero
// or less means none. Close closes s.
//
// The API's logs route and the command line's local mode bound a stream
// that does not follow with it, so that both stop at the same line.
func LimitLogs(s LogStream, maxLines int, maxBytes int64) LogStream {
	return &limitedLogStream{LogStream: s, maxLines: maxLines, maxBytes: maxBytes}
}

type limitedLogStream struct {
	LogStream
	maxLines int
	maxBytes int64
	lines    int
	bytes    int64
	end      error
}

func (s *limitedLogStream) Next() (LogLine, error) {
	if s.end != nil {
		return LogLine{}, s.end
	}
	l, err := s.LogStream.Next()
	if err != nil {
		return l, err
	}
	size := int64(len(l.Text)) + 1
	switch {
	case s.maxLines > 0 && s.lines+1 > s.maxLines:
		s.end = fmt.Errorf("%w: stopped at %d lines", ErrLogsTruncated, s.maxLines)
	case s.maxBytes > 0 && s.bytes+size > s.maxBytes:
		s.end = fmt.Errorf("%w: stopped before %d bytes", ErrLogsTruncated, s.maxBytes)
	default:
		s.lines++
		s.bytes += size
		return l, nil
	}
	return LogLine{}, s.end
}
