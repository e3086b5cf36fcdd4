package main

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store/memory"
)

// TestLogsTruncateAlikeBothModes: a log longer than the bounds stops at
// the same line read locally and through a server, and says so the same
// way in both modes.
func TestLogsTruncateAlikeBothModes(t *testing.T) {
	// Lines that JSON escapes to more than three times their size ("<" is
	// \u003c): the bytes the instance wrote, not the records that carry
	// them, decide where the response stops. The byte bound, 8 MiB, comes
	// before the line bound.
	const n = 9000
	unit := strings.Repeat(`<"x">`, 200)
	opts := &sim.Options{Output: func(_, _, _ string) (stdout, stderr []string) {
		for i := range n {
			stdout = append(stdout, fmt.Sprintf("%04d %s", i, unit))
		}
		return stdout, nil
	}}
	lineBytes := len(fmt.Sprintf("%04d %s", 0, unit)) + 1
	want := api.DefaultMaxLogBytes / int64(lineBytes)
	if want >= api.DefaultMaxLogLines || want >= n {
		t.Fatalf("the test's lines do not reach the byte bound first (%d lines)", want)
	}
	doc := writeFile(t, "big.json", `{"product_name": "big-logs", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "app", "unit_type": "1U1G", "image": {"name": "app", "tag": "1"}}]}]]}`)

	rt := sim.New(opts)
	old := newSim
	newSim = func() *sim.Runtime { return rt }
	t.Cleanup(func() { newSim = old })
	local := []string{"--runtime", "memory", "--store", "sqlite:" + filepath.Join(t.TempDir(), "sw.db"), "--allow-ephemeral-runtime"}

	st := memory.New(nil)
	ex := deploy.New(sim.New(opts), st, nil)
	t.Cleanup(func() { ex.Close() })
	srv := api.New(st, ex, nil)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Cleanup(srv.CloseStreams)
	remote := []string{"--server", ts.URL}

	type result struct {
		code          int
		lines         int
		last, errLine string
	}
	var got [2]result
	for i, m := range [][]string{local, remote} {
		if code, out, errOut := cli(t, "", append([]string{"apply", "-f", doc, "--name", "big", "--progress", "none"}, m...)...); code != 0 {
			t.Fatalf("apply %v: exit %d\n%s%s", m, code, out, errOut)
		}
		code, out, errOut := cli(t, "", append([]string{"logs", "big"}, m...)...)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		got[i] = result{code: code, lines: len(lines), last: lines[len(lines)-1][strings.Index(lines[len(lines)-1], " | ")+3:], errLine: errOut}
	}
	if got[0] != got[1] {
		t.Errorf("local: exit %d, %d lines, last %.20q, stderr %q\nremote: exit %d, %d lines, last %.20q, stderr %q",
			got[0].code, got[0].lines, got[0].last, got[0].errLine, got[1].code, got[1].lines, got[1].last, got[1].errLine)
	}
	if got[0].lines != int(want) || got[0].last != fmt.Sprintf("%04d %s", want-1, unit) {
		t.Errorf("%d lines, last %.20q; want %d, the last whole line within %d bytes", got[0].lines, got[0].last, want, api.DefaultMaxLogBytes)
	}
	if got[0].code == 0 || !strings.Contains(got[0].errLine, "log response truncated: stopped at 10000 lines or 8388608 bytes") {
		t.Errorf("exit %d, stderr %q: want the truncation", got[0].code, got[0].errLine)
	}
}
