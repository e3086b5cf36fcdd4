package docker

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/stackwave/stackwave/runtime"
)

// TestFrameWriter feeds the engine's multiplexed log format, as the
// engine writes it with timestamps, through stdcopy into frameWriters.
func TestFrameWriter(t *testing.T) {
	var mux bytes.Buffer
	frame := func(stream stdcopy.StdType) func(p []byte) {
		return func(p []byte) {
			mux.Write([]byte{byte(stream), 0, 0, 0})
			binary.Write(&mux, binary.BigEndian, uint32(len(p)))
			mux.Write(p)
		}
	}
	out, errw := struct{ Write func([]byte) }{frame(stdcopy.Stdout)}, struct{ Write func([]byte) }{frame(stdcopy.Stderr)}
	ts := func(s int) string { return time.Unix(1700000000+int64(s), 5).UTC().Format(time.RFC3339Nano) + " " }
	long := strings.Repeat("y", runtime.MaxLogLine+3)
	out.Write([]byte(ts(0) + "first\r\n"))
	errw.Write([]byte(ts(1) + "oops\n"))
	out.Write([]byte(ts(2) + "partial "))    // a long line the engine cut
	out.Write([]byte(ts(3) + "rest\n"))      // continues it
	out.Write([]byte(ts(4) + "\n"))          // an empty line
	out.Write([]byte(ts(5) + long + "\n"))   // longer than a line may be
	errw.Write([]byte(ts(6) + "no newline")) // the last, unfinished

	var got []runtime.LogLine
	emit := func(l runtime.LogLine) error { got = append(got, l); return nil }
	base := runtime.LogLine{Stack: "s", Service: "v", Instance: "i"}
	o := &frameWriter{base: base, stream: runtime.Stdout, emit: emit}
	e := &frameWriter{base: base, stream: runtime.Stderr, emit: emit}
	if _, err := stdcopy.StdCopy(o, e, &mux); err != nil {
		t.Fatal(err)
	}
	if err := o.flush(); err != nil {
		t.Fatal(err)
	}
	if err := e.flush(); err != nil {
		t.Fatal(err)
	}
	at := func(s int) time.Time { return time.Unix(1700000000+int64(s), 5).UTC() }
	line := func(stream runtime.Output, s int, text string) runtime.LogLine {
		l := base
		l.Stream, l.Time, l.Text = stream, at(s), text
		return l
	}
	want := []runtime.LogLine{
		line(runtime.Stdout, 0, "first"),
		line(runtime.Stderr, 1, "oops"),
		line(runtime.Stdout, 2, "partial rest"),
		line(runtime.Stdout, 4, ""),
		line(runtime.Stdout, 5, long[:runtime.MaxLogLine]),
		line(runtime.Stdout, 5, "yyy"),
		line(runtime.Stderr, 6, "no newline"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
