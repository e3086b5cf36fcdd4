package runtime_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackwave/stackwave/runtime"
)

func TestLogTargets(t *testing.T) {
	ds := &runtime.DeploymentState{Deployment: "d", Stacks: []runtime.StackState{
		{Name: "db", Services: []runtime.ServiceState{{Name: "mysql", Instances: []runtime.InstanceState{{Name: "m1"}}}}},
		{Name: "app", Services: []runtime.ServiceState{
			{Name: "api", Instances: []runtime.InstanceState{{Name: "a1"}, {Name: "a2"}}},
			{Name: "idle", Instances: []runtime.InstanceState{}},
		}},
	}}
	names := func(ts []runtime.LogTarget) []string {
		var out []string
		for _, tg := range ts {
			out = append(out, tg.Stack+"/"+tg.Service+"/"+tg.Instance.Name)
		}
		return out
	}
	for _, tc := range []struct {
		q    runtime.LogQuery
		want []string
		err  error
		msg  string
	}{
		{q: runtime.LogQuery{}, want: []string{"db/mysql/m1", "app/api/a1", "app/api/a2"}},
		{q: runtime.LogQuery{Stack: "app"}, want: []string{"app/api/a1", "app/api/a2"}},
		{q: runtime.LogQuery{Stack: "app", Service: "api", Instance: "a2"}, want: []string{"app/api/a2"}},
		{q: runtime.LogQuery{Stack: "app", Service: "idle"}, want: nil},
		{q: runtime.LogQuery{Stack: "web"}, err: runtime.ErrNotFound, msg: `no stack "web"`},
		{q: runtime.LogQuery{Stack: "app", Service: "web"}, err: runtime.ErrNotFound, msg: `no service "web"`},
		{q: runtime.LogQuery{Stack: "app", Service: "api", Instance: "a3"}, err: runtime.ErrNotFound, msg: `no instance "a3"`},
		{q: runtime.LogQuery{Service: "api"}, err: runtime.ErrInvalid, msg: "needs a stack"},
		{q: runtime.LogQuery{Stack: "app", Instance: "a1"}, err: runtime.ErrInvalid, msg: "needs a service"},
		{q: runtime.LogQuery{Tail: -1}, err: runtime.ErrInvalid, msg: "tail -1"},
	} {
		got, err := runtime.LogTargets(ds, tc.q)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("LogTargets(%+v) = %v, want %v with %q", tc.q, err, tc.err, tc.msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("LogTargets(%+v): %v", tc.q, err)
		} else if diff := cmp.Diff(tc.want, names(got)); diff != "" {
			t.Errorf("LogTargets(%+v) (-want +got):\n%s", tc.q, diff)
		}
	}
	if _, err := runtime.LogTargets(&runtime.DeploymentState{Deployment: "x"}, runtime.LogQuery{}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("no stacks: %v, want ErrNotFound", err)
	}
}

func TestScanLogLines(t *testing.T) {
	long := strings.Repeat("x", runtime.MaxLogLine+5)
	var got []string
	err := runtime.ScanLogLines(strings.NewReader("a\r\nb\n\n"+long+"\nlast"), func(s string) error {
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "", long[:runtime.MaxLogLine], "xxxxx", "last"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func source(name string, n int) runtime.LogSource {
	return func(ctx context.Context, emit func(runtime.LogLine) error) error {
		for i := range n {
			if err := emit(runtime.LogLine{Instance: name, Text: strings.Repeat("-", i)}); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestLogStreamOrderAndEnd(t *testing.T) {
	released := false
	s := runtime.NewLogStream(t.Context(), false, []runtime.LogSource{source("a", 100), source("b", 3)}, func() { released = true })
	var got []string
	for {
		l, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Instance)
	}
	if len(got) != 103 || got[99] != "a" || got[100] != "b" {
		t.Errorf("got %d lines, instance order %v...", len(got), got[98:])
	}
	if err := s.Close(); err != nil || !released {
		t.Errorf("Close: %v, released %v", err, released)
	}
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after Close: %v, want context.Canceled", err)
	}
}

func TestLogStreamFollowEnds(t *testing.T) {
	block := func(ctx context.Context, emit func(runtime.LogLine) error) error {
		if err := emit(runtime.LogLine{Text: "first"}); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(t.Context())
	s := runtime.NewLogStream(ctx, true, []runtime.LogSource{block, source("b", 1)}, nil)
	defer s.Close()
	seen := 0
	for seen < 2 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		seen++
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: %v, want context.Canceled", err)
	}

	failing := func(ctx context.Context, emit func(runtime.LogLine) error) error { return runtime.ErrUnavailable }
	s = runtime.NewLogStream(t.Context(), true, []runtime.LogSource{block, failing}, nil)
	defer s.Close()
	for {
		_, err := s.Next()
		if err == nil {
			continue
		}
		if !errors.Is(err, runtime.ErrUnavailable) {
			t.Errorf("Next: %v, want the source's error", err)
		}
		break
	}
}

// textStream gives one line per text, then io.EOF.
type textStream struct {
	texts  []string
	closed bool
}

func (s *textStream) Next() (runtime.LogLine, error) {
	if len(s.texts) == 0 {
		return runtime.LogLine{}, io.EOF
	}
	l := runtime.LogLine{Instance: "i", Text: s.texts[0]}
	s.texts = s.texts[1:]
	return l, nil
}

func (s *textStream) Close() error { s.closed = true; return nil }

// TestLimitLogs: a line counts as its text and its newline; the stream
// stops before the line that would pass a bound, and ends as its source
// does when everything fits.
func TestLimitLogs(t *testing.T) {
	texts := []string{"abc", `"quoted" <html>`, "", "tail"} // 4, 16, 1, 5 bytes
	for _, tc := range []struct {
		name     string
		lines    int
		bytes    int64
		want     int // lines given
		truncate string
	}{
		{"no bounds", 0, 0, 4, ""},
		{"exact fit", 4, 26, 4, ""},
		{"lines", 2, 0, 2, "stopped at 2 lines"},
		{"bytes at a newline", 0, 20, 2, "stopped before 20 bytes"},
		{"bytes within a line", 0, 21, 3, "stopped before 21 bytes"},
		{"one byte short", 0, 25, 3, "stopped before 25 bytes"},
		{"first line too long", 0, 3, 0, "stopped before 3 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &textStream{texts: slices.Clone(texts)}
			s := runtime.LimitLogs(src, tc.lines, tc.bytes)
			n := 0
			var err error
			for {
				if _, err = s.Next(); err != nil {
					break
				}
				n++
			}
			if n != tc.want {
				t.Errorf("%d lines, want %d", n, tc.want)
			}
			if tc.truncate == "" {
				if err != io.EOF {
					t.Errorf("end %v, want io.EOF", err)
				}
			} else if !errors.Is(err, runtime.ErrLogsTruncated) || !strings.Contains(err.Error(), tc.truncate) {
				t.Errorf("end %v, want ErrLogsTruncated %s", err, tc.truncate)
			}
			if _, again := s.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("Next after the end: %v, want %v again", again, err)
			}
			if s.Close(); !src.closed {
				t.Error("Close did not close the source")
			}
		})
	}
}
