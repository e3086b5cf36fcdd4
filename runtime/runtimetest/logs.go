package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stackwave/stackwave/runtime"
)

// The log tests check runtime.LogReader. Services print what
// Behavior.LogLines and Behavior.Stderr ask for; other lines a back-end's
// services print (a test image's own start-up lines) are allowed.

// logReader returns the runtime's LogReader, skipping the test when the
// harness does not declare it.
func (e *env) logReader() runtime.LogReader {
	return capability[runtime.LogReader](e, runtime.CapLogReader)
}

// logLine is what a service of Behavior{LogLines: n} writes as line i.
func logLine(i, n int) string { return fmt.Sprintf("log line %d/%d", i, n) }

// readLogs reads a whole stream, failing the test on an error other than
// io.EOF.
func (e *env) readLogs(lr runtime.LogReader, q runtime.LogQuery) []runtime.LogLine {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	s, err := lr.Logs(ctx, e.dep, q)
	if err != nil {
		e.t.Fatalf("Logs(%+v): %v", q, err)
	}
	defer s.Close()
	var out []runtime.LogLine
	for {
		l, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			e.t.Fatalf("Logs(%+v): Next after %d lines: %v", q, len(out), err)
		}
		out = append(out, l)
	}
}

// awaitLogs follows the query's instances until every one of them has
// written the lines that are wanted of it, so that the tests that read
// without following find them recorded. It is what a back-end that
// records output a little after a service wrote it needs.
func (e *env) awaitLogs(lr runtime.LogReader, q runtime.LogQuery, instances []string, want func(runtime.LogLine) bool, n int) []runtime.LogLine {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	q.Follow = true
	s, err := lr.Logs(ctx, e.dep, q)
	if err != nil {
		e.t.Fatalf("Logs(%+v): %v", q, err)
	}
	defer s.Close()
	seen := map[string]int{}
	var out []runtime.LogLine
	for {
		done := true
		for _, in := range instances {
			done = done && seen[in] >= n
		}
		if done {
			return out
		}
		l, err := s.Next()
		if err != nil {
			e.t.Fatalf("following %+v: after %d lines (%v wanted of each of %v): %v", q, len(out), n, instances, err)
		}
		out = append(out, l)
		if want(l) {
			seen[l.Instance]++
		}
	}
}

func instanceNames(svc *runtime.ServiceState) []string {
	var out []string
	for _, in := range svc.Instances {
		out = append(out, in.Name)
	}
	return out
}

// logUnsupported checks, on a back-end whose instances have no output
// to read, that Logs says so, and reports whether it is such a back-end.
func (e *env) logUnsupported(lr runtime.LogReader, q runtime.LogQuery) bool {
	e.t.Helper()
	if e.h.NoLogOutput == "" {
		return false
	}
	ctx, cancel := e.ctx()
	defer cancel()
	s, err := lr.Logs(ctx, e.dep, q)
	if err == nil {
		s.Close()
		e.t.Fatalf("Logs(%+v) on a back-end without output (%s) returned a stream, want an error matching runtime.ErrNotSupported", q, e.h.NoLogOutput)
	}
	if !errors.Is(runtime.MapError(e.rt, err), runtime.ErrNotSupported) {
		e.t.Fatalf("Logs(%+v) on a back-end without output (%s): %v, want an error matching runtime.ErrNotSupported", q, e.h.NoLogOutput, err)
	}
	e.t.Skipf("the back-end's instances have no output (%s); Logs fails with: %v", e.h.NoLogOutput, err)
	return true
}

// testLogsContent: every line is tagged with its stack, service,
// instance and stream, an instance's lines come in the order written,
// and without Follow instances come one after another in Observe's
// order.
func testLogsContent(e *env) {
	t := e.t
	lr := e.logReader()
	web := e.service("app", "web", Behavior{LogLines: 3, Stderr: "web complains"})
	web.Instances = 2
	spec := e.spec("app", 0, web, e.service("app", "db", Behavior{LogLines: 2}))
	e.launch(spec)
	if e.logUnsupported(lr, runtime.LogQuery{Stack: "app", Service: "web"}) {
		return
	}
	svc := e.observeService("app", "web")
	names := instanceNames(svc)
	if len(names) != 2 {
		t.Fatalf("web has instances %v, want 2", names)
	}
	q := runtime.LogQuery{Stack: "app", Service: "web"}
	e.awaitLogs(lr, q, names, func(l runtime.LogLine) bool {
		return strings.HasSuffix(l.Text, logLine(3, 3)) || strings.HasSuffix(l.Text, "web complains")
	}, 2)

	lines := e.readLogs(lr, q)
	for _, l := range lines {
		if l.Stack != "app" || l.Service != "web" || !slices.Contains(names, l.Instance) {
			t.Errorf("line %+v is not tagged app/web and one of %v", l, names)
		}
		switch {
		case e.h.OneLogStream && l.Stream != "":
			t.Errorf("line %+v has stream %q; the harness says the back-end records one", l, l.Stream)
		case !e.h.OneLogStream && l.Stream != runtime.Stdout && l.Stream != runtime.Stderr:
			t.Errorf("line %+v has stream %q", l, l.Stream)
		}
	}
	last := -1
	for _, l := range lines {
		i := slices.Index(names, l.Instance)
		if i < last {
			t.Errorf("without Follow, a line of %s came after lines of %s; want instances one after another in Observe's order %v", l.Instance, names[last], names)
			break
		}
		last = i
	}
	for _, name := range names {
		var got []string
		complained := false
		for _, l := range lines {
			if l.Instance != name {
				continue
			}
			for i := 1; i <= 3; i++ {
				if strings.HasSuffix(l.Text, logLine(i, 3)) {
					if !e.h.OneLogStream && l.Stream != runtime.Stdout {
						t.Errorf("%s: %q came on %s, want stdout", name, l.Text, l.Stream)
					}
					got = append(got, logLine(i, 3))
				}
			}
			if strings.HasSuffix(l.Text, "web complains") {
				complained = true
				if !e.h.OneLogStream && l.Stream != runtime.Stderr {
					t.Errorf("%s: %q came on %s, want stderr", name, l.Text, l.Stream)
				}
			}
		}
		if want := []string{logLine(1, 3), logLine(2, 3), logLine(3, 3)}; !slices.Equal(got, want) {
			t.Errorf("%s wrote %v, Logs gave %v", name, want, got)
		}
		if !complained {
			t.Errorf("%s wrote %q to stderr; Logs did not give it", name, "web complains")
		}
	}

	// One instance alone, and the whole deployment.
	one := e.readLogs(lr, runtime.LogQuery{Stack: "app", Service: "web", Instance: names[1]})
	for _, l := range one {
		if l.Instance != names[1] {
			t.Errorf("Logs of instance %s gave a line of %s", names[1], l.Instance)
		}
	}
	if len(one) == 0 {
		t.Errorf("Logs of instance %s gave no lines", names[1])
	}
	e.awaitLogs(lr, runtime.LogQuery{Stack: "app", Service: "db"}, instanceNames(e.observeService("app", "db")), func(l runtime.LogLine) bool {
		return strings.HasSuffix(l.Text, logLine(2, 2))
	}, 1)
	services := map[string]bool{}
	for _, l := range e.readLogs(lr, runtime.LogQuery{}) {
		services[l.Service] = true
	}
	if !services["web"] || !services["db"] {
		t.Errorf("Logs of the whole deployment gave lines of %v, want web and db", services)
	}
}

// testLogsNotFound: a selection that does not exist fails with
// ErrNotFound, a malformed query with ErrInvalid, before any line.
func testLogsNotFound(e *env) {
	t := e.t
	lr := e.logReader()
	ctx, cancel := e.ctx()
	defer cancel()
	if s, err := lr.Logs(ctx, e.dep, runtime.LogQuery{}); !errors.Is(runtime.MapError(e.rt, err), runtime.ErrNotFound) {
		if s != nil {
			s.Close()
		}
		t.Errorf("Logs of a deployment with nothing: %v, want an error matching runtime.ErrNotFound", err)
	}
	e.launch(e.spec("app", 0, e.service("app", "web", Behavior{})))
	for _, tc := range []struct {
		q    runtime.LogQuery
		want error
	}{
		{runtime.LogQuery{Stack: "nope"}, runtime.ErrNotFound},
		{runtime.LogQuery{Stack: "app", Service: "nope"}, runtime.ErrNotFound},
		{runtime.LogQuery{Stack: "app", Service: "web", Instance: "nope"}, runtime.ErrNotFound},
		{runtime.LogQuery{Service: "web"}, runtime.ErrInvalid},
		{runtime.LogQuery{Stack: "app", Instance: "nope"}, runtime.ErrInvalid},
		{runtime.LogQuery{Stack: "app", Tail: -1}, runtime.ErrInvalid},
	} {
		s, err := lr.Logs(ctx, e.dep, tc.q)
		if s != nil {
			s.Close()
		}
		if !errors.Is(runtime.MapError(e.rt, err), tc.want) {
			t.Errorf("Logs(%+v): %v, want an error matching %v", tc.q, err, tc.want)
		}
	}
}

// testLogsTail: Tail keeps the last lines of each instance.
func testLogsTail(e *env) {
	t := e.t
	lr := e.logReader()
	web := e.service("app", "web", Behavior{LogLines: 6})
	web.Instances = 2
	e.launch(e.spec("app", 0, web))
	q := runtime.LogQuery{Stack: "app", Service: "web"}
	if e.logUnsupported(lr, q) {
		return
	}
	names := instanceNames(e.observeService("app", "web"))
	e.awaitLogs(lr, q, names, func(l runtime.LogLine) bool { return strings.HasSuffix(l.Text, logLine(6, 6)) }, 1)
	all := e.readLogs(lr, q)
	q.Tail = 2
	tail := e.readLogs(lr, q)
	for _, name := range names {
		var want, got []string
		for _, l := range all {
			if l.Instance == name {
				want = append(want, l.Text)
			}
		}
		for _, l := range tail {
			if l.Instance == name {
				got = append(got, l.Text)
			}
		}
		if len(want) > 2 {
			want = want[len(want)-2:]
		}
		if !slices.Equal(got, want) {
			t.Errorf("Tail 2 of %s gave %q, want its last two lines %q", name, got, want)
		}
	}
}

// testLogsSince: Since keeps the lines written at or after it.
func testLogsSince(e *env) {
	t := e.t
	lr := e.logReader()
	e.launch(e.spec("app", 0, e.service("app", "web", Behavior{LogLines: 3})))
	q := runtime.LogQuery{Stack: "app", Service: "web"}
	if e.logUnsupported(lr, q) {
		return
	}
	names := instanceNames(e.observeService("app", "web"))
	e.awaitLogs(lr, q, names, func(l runtime.LogLine) bool { return strings.HasSuffix(l.Text, logLine(3, 3)) }, 1)
	all := e.readLogs(lr, q)
	if len(all) == 0 {
		t.Fatal("no lines")
	}
	q.Since = time.Now().Add(time.Hour)
	if got := e.readLogs(lr, q); len(got) != 0 {
		t.Errorf("Since an hour from now gave %d lines, want none: %+v", len(got), got[0])
	}
	at := all[len(all)-1].Time
	if at.IsZero() {
		return // the back-end does not tell when lines were written
	}
	q.Since = at
	got := e.readLogs(lr, q)
	if len(got) == 0 {
		t.Errorf("Since the time of the last line (%v) gave no lines", at)
	}
	for _, l := range got {
		if l.Time.Before(at) {
			t.Errorf("Since %v gave a line of %v: %q", at, l.Time, l.Text)
		}
	}
}

// testLogsFollow: with Follow the stream gives the lines written so far,
// stays open, and ends with io.EOF once the instances stopped; a
// cancelled context or Close ends it with context.Canceled.
func testLogsFollow(e *env) {
	t := e.t
	lr := e.logReader()
	e.launch(e.spec("app", 0, e.service("app", "web", Behavior{LogLines: 2})))
	q := runtime.LogQuery{Stack: "app", Service: "web", Follow: true}
	if e.logUnsupported(lr, q) {
		return
	}
	names := instanceNames(e.observeService("app", "web"))
	e.awaitLogs(lr, q, names, func(l runtime.LogLine) bool { return strings.HasSuffix(l.Text, logLine(2, 2)) }, 1)

	// Cancelling the context ends a stream that waits for lines.
	ctx, cancel := context.WithCancel(t.Context())
	s, err := lr.Logs(ctx, e.dep, q)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer s.Close()
	for got := false; !got; {
		l, err := s.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = strings.HasSuffix(l.Text, logLine(2, 2))
	}
	res := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Next(); err != nil {
				res <- err
				return
			}
		}
	}()
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next after the context was cancelled: %v, want an error wrapping context.Canceled", err)
		}
	case <-time.After(e.h.Timeout):
		t.Fatalf("Next did not return within %v of the context's cancellation", e.h.Timeout)
	}

	// Close ends it too, at once: not when the context ends.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	s, err = lr.Logs(ctx, e.dep, q)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(e.h.Timeout):
		t.Fatalf("Close of a followed stream did not return within %v while its context was alive", e.h.Timeout)
	}
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after Close: %v, want an error wrapping context.Canceled", err)
	}
}

// testLogsFollowEnds: following a service whose instances exit ends
// with io.EOF once they did, after the lines they wrote.
func testLogsFollowEnds(e *env) {
	t := e.t
	lr := e.logReader()
	if e.h.NoLogOutput != "" {
		// Its instances may not exist yet when Logs asks; the other log
		// tests check the error once they do.
		t.Skipf("the back-end's instances have no output (%s)", e.h.NoLogOutput)
	}
	spec := e.spec("app", 0, e.service("app", "web", Behavior{LogLines: 2, Exit: true, ExitAfter: 500 * time.Millisecond, ExitCode: 3}))
	e.apply(e.rt, spec)
	q := runtime.LogQuery{Stack: "app", Service: "web", Follow: true}
	ctx, cancel := e.ctx()
	defer cancel()
	s, err := lr.Logs(ctx, e.dep, q)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer s.Close()
	var lines []string
	for {
		l, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("following a service that exits: after %q: %v, want io.EOF once it exited", lines, err)
		}
		lines = append(lines, l.Text)
	}
	if !slices.ContainsFunc(lines, func(s string) bool { return strings.HasSuffix(s, logLine(2, 2)) }) {
		t.Errorf("following a service that exited gave %q, want its %q", lines, logLine(2, 2))
	}
	if svc := e.observeService("app", "web"); svc.Running() != 0 {
		t.Errorf("the stream ended while %d instance(s) still run", svc.Running())
	}
}
