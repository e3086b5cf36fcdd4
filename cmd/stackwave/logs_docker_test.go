package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/internal/dockertest"
)

// TestLogsDockerBothModes deploys the test application on the real Docker
// engine and reads what its instances print with stackwave logs, on the
// local store and runtime and through a serve process on the same store
// and engine: the same lines, both outputs, no env value, and the same
// output in both modes.
func TestLogsDockerBothModes(t *testing.T) {
	dc := dockertest.Client(t)
	image, tag, _ := strings.Cut(dockertest.TestApp(t), ":")
	const name = "cli-logs"
	cleanupDeployment(t, dc, name)
	doc := writeFile(t, "logs.json", `{"product_name": "cli-logs", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "app", "unit_type": "1U1G", "instances": 2, "image": {"name": "`+image+`", "tag": "`+tag+`"},
   "envs": ["TESTAPP_SERVICE=app", "TESTAPP_LOG_LINES=3", "TESTAPP_STDERR=to stderr", "DB_PASSWORD=hunter2-secret"]}]}]]}`)
	db := "sqlite:" + filepath.Join(t.TempDir(), "sw.db")
	env := append(os.Environ(), dockerHostIPEnv+"=127.0.0.1")
	t.Setenv(dockerHostIPEnv, "127.0.0.1")
	local := []string{"--store", db, "--runtime", "docker"}
	if code, out, errOut := cli(t, "", append([]string{"apply", "-f", doc, "--name", name, "--progress", "none"}, local...)...); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	t.Cleanup(func() {
		cli(t, "", append([]string{"destroy", name, "--delete-data", "--progress", "none"}, local...)...)
	})

	// Follow until both instances wrote their last lines: the engine
	// copies them a moment after the process wrote them.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := 0
	out := &markWriter{mark: "\n", done: func() {}}
	out.done = func() {
		n := strings.Count(out.buf.String(), "log line 3/3") + strings.Count(out.buf.String(), "| to stderr")
		if n != seen && n == 4 {
			cancel()
		}
		seen = n
	}
	var errOut strings.Builder
	runEnv(append([]string{"logs", name, "web/app", "--follow"}, local...), &cliEnv{stdin: strings.NewReader(""), stdout: out, stderr: &errOut, ctx: ctx})
	if seen != 4 {
		t.Fatalf("logs --follow ended before both instances wrote their lines:\n%s%s", out.String(), errOut.String())
	}

	s := startServe(t, env, "--store", db, "--runtime", "docker")
	var outs []string
	for _, mode := range [][]string{local, {"--server", s.url}} {
		for _, args := range [][]string{{"logs", name}, {"logs", name, "web/app", "--tail", "1", "-o", "json"}} {
			code, out, errOut := cli(t, "", append(append([]string{}, args...), mode...)...)
			if code != 0 {
				t.Fatalf("%v %v: exit %d\n%s", args, mode, code, errOut)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("%v: a line shows an env value:\n%s", args, out)
			}
			outs = append(outs, out)
		}
	}
	if outs[0] != outs[2] || outs[1] != outs[3] {
		t.Errorf("local and remote differ:\n--- local\n%s%s--- remote\n%s%s", outs[0], outs[1], outs[2], outs[3])
	}
	all := outs[0]
	if strings.Count(all, "log line 3/3") != 2 || strings.Count(all, "| to stderr\n") != 2 || strings.Count(all, name+"-web-app-") < 8 {
		t.Errorf("logs: want 3 lines and a stderr line from each of two instances:\n%s", all)
	}
	if strings.Count(outs[1], "\n") != 2 || !strings.Contains(outs[1], `"stack":"web","service":"app"`) {
		t.Errorf("logs --tail 1 -o json: want one record an instance:\n%s", outs[1])
	}
}
