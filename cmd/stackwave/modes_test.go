package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/runtime/sim"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// mode runs commands locally or against a server.
type mode struct {
	name string
	// args are added to every command that uses a store and runtime;
	// global to the others (those of the cobra tree's root).
	args, global []string
}

// localMode runs commands on a SQLite store and one simulated runtime
// shared by the commands, as a Docker engine would be.
func localMode(t *testing.T, faults ...sim.Fault) mode {
	rt := sim.New(simOptions())
	for _, f := range faults {
		rt.Inject(f)
	}
	old := newSim
	newSim = func() *sim.Runtime { return rt }
	t.Cleanup(func() { newSim = old })
	db := "sqlite:" + filepath.Join(t.TempDir(), "sw.db")
	args := []string{"--runtime", "memory", "--store", db, "--allow-ephemeral-runtime"}
	return mode{name: "local", args: args}
}

// remoteMode starts a `stackwave serve` process on the simulated runtime
// and runs commands against it.
func remoteMode(t *testing.T, serveArgs ...string) mode {
	t.Helper()
	s := startServe(t, nil, append([]string{"--runtime", "memory", "--store", "memory:"}, serveArgs...)...)
	return mode{name: "remote", args: []string{"--server", s.url}, global: []string{"--server", s.url}}
}

func (m mode) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return cli(t, "", append(append([]string{}, args...), m.args...)...)
}

var (
	idPattern       = regexp.MustCompile(`\b(prod|pv|op|req|tpl)-[0-9a-z]{16,}\b`)
	timePattern     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z|\b\d\d:\d\d:\d\d\.\d{3}\b`)
	portPattern     = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	ownerPattern    = regexp.MustCompile(`("owner": "[^"]*"|owner: \S+)`)
	tempPath        = regexp.MustCompile(regexp.QuoteMeta(os.TempDir()) + `/\S+`)
	durationPattern = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m)\b`)
)

// normalize replaces what differs from run to run: IDs, times,
// durations; and the column widths they decide.
func normalize(s string) string {
	s = idPattern.ReplaceAllStringFunc(s, func(id string) string { return id[:strings.IndexByte(id, '-')] + "-ID" })
	s = timePattern.ReplaceAllString(s, "TIME")
	s = ownerPattern.ReplaceAllString(s, "owner: OWNER") // the executor's process
	// Stacks of one tier start at once: which gets which port varies.
	s = portPattern.ReplaceAllString(s, "127.0.0.1:PORT")
	s = durationPattern.ReplaceAllString(s, "DUR")
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		b.WriteString(strings.Join(strings.Fields(line), " "))
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// script runs each command line in m and returns the transcript: the
// command, its exit code and its normalized standard output.
func script(t *testing.T, m mode, lines [][]string) string {
	t.Helper()
	var b strings.Builder
	for _, args := range lines {
		code, out, errOut := m.run(t, args...)
		shown := make([]string, len(args))
		for i, a := range args {
			// Files of the test's temporary directories by their name.
			shown[i] = tempPath.ReplaceAllStringFunc(a, filepath.Base)
		}
		fmt.Fprintf(&b, "$ stackwave %s\nexit %d\n%s\n", strings.Join(shown, " "), code, normalize(out))
		if testing.Verbose() {
			t.Logf("%s: %q: exit %d\n%s%s", m.name, args, code, out, errOut)
		}
	}
	return b.String()
}

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestDayTwoBothModes runs the day-two commands on the local store and
// against a real `stackwave serve` process: outputs and exit codes must
// be the same in both modes, and as the golden file says.
func TestDayTwoBothModes(t *testing.T) {
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	tpl2 := writeFile(t, "proxy2.conf", seedTemplate+"# changed\n")
	doc := seedWithDB(t)
	lines := [][]string{
		{"apply", "-f", doc, "--name", "shop", "--config", "/authproxy_in/qboxauthproxy.conf=" + tpl, "--progress", "none"},
		{"apply", "-f", doc, "--name", "shop", "--config", "/authproxy_in/qboxauthproxy.conf=" + tpl, "--progress", "none"},
		{"status", "shop"},
		{"plan", "-f", doc, "--name", "shop", "--config", "/authproxy_in/qboxauthproxy.conf=" + tpl},
		{"plan", "-f", doc, "--name", "shop", "--config", "/authproxy_in/qboxauthproxy.conf=" + tpl2},
		{"plan", "-f", doc, "--name", "other", "--config", "/authproxy_in/qboxauthproxy.conf=" + tpl, "-o", "json"},
		{"plan", "-f", doc, "--name", "shop", "--var", "unused=1"},
		{"restart", "shop", "kodo-1", "--progress", "none"},
		{"scale", "shop", "kodo-1/authproxy-in", "2", "--progress", "none"},
		{"status", "shop", "--instances"},
		{"stop", "shop", "kodo-2", "--progress", "none"},
		{"status", "shop"},
		{"start", "shop", "kodo-2", "--progress", "none"},
		{"deployments", "list"},
		{"deployments", "history", "shop"},
		{"deployments", "get", "shop", "-o", "yaml"},
		{"events", "shop"},
		{"events", "shop", "--after-seq", "36", "-o", "json"},
		{"logs", "shop"},
		{"logs", "shop", "kodo-1/authproxy-in", "--tail", "1", "--timestamps"},
		{"logs", "shop", "kodo-1", "-o", "json"},
		{"logs", "shop", "mysql-cluster/mysql-1", "--since", "1h", "-o", "yaml"},
		{"logs", "nope"},
		{"logs", "shop", "nope"},
		{"logs", "shop", "kodo-1/nope"},
		{"logs", "shop", "a/b/c/d"},
		{"logs", "shop", "--tail", "-1"},
		{"logs", "shop", "--since", "yesterday"},
		{"logs"},
		{"status", "nope"},
		{"restart", "nope", "kodo-1", "--progress", "none"},
		{"restart", "shop", "nope", "--progress", "none"},
		{"scale", "shop", "kodo-1", "2"},
		{"scale", "shop", "kodo-1/authproxy-in", "-1"},
		{"scale", "shop", "kodo-1/authproxy-in", "0"},
		{"events", "nope"},
		{"status", "shop", "-o", "bogus"},
		{"destroy", "shop", "--progress", "none"},
		{"status", "shop"},
	}
	local := script(t, localMode(t), lines)
	remote := script(t, remoteMode(t), lines)
	sameInBothModes(t, local, remote)
	golden(t, "daytwo.golden", local)
}

// TestFailedDeploymentBothModes: a deployment whose launch failed exits 1
// from status in every format, and the same in both modes.
func TestFailedDeploymentBothModes(t *testing.T) {
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	lines := [][]string{
		{"apply", "-f", seedWithDB(t), "--name", "shop", "--config", "/authproxy_in/qboxauthproxy.conf=" + tpl, "--progress", "none"},
		{"status", "shop"},
		{"status", "shop", "-o", "json"},
		{"status", "shop", "-o", "yaml"},
		{"deployments", "history", "shop"},
	}
	// The first tier, which has one stack, fails: nothing runs at once
	// with it, so the outcome does not depend on timing.
	local := script(t, localMode(t, sim.Fault{Kind: sim.ExitOnStart, Stack: "mysql-cluster", Service: "mysql-1", ExitCode: 3}), lines)
	remote := script(t, remoteMode(t, "--fault", "mysql-cluster/mysql-1=exit:3"), lines)
	sameInBothModes(t, local, remote)
	for i, want := range []string{"exit 1\n", "exit 1\n", "exit 1\n", "exit 1\n", "exit 0\n"} {
		parts := strings.Split(local, "$ stackwave ")
		if !strings.Contains(parts[i+1], want) {
			t.Errorf("%s: want %s", parts[i+1], want)
		}
	}
	if !strings.Contains(local, `"status": "Error"`) || !strings.Contains(local, "status: Error") {
		t.Errorf("status does not say Error:\n%s", local)
	}
}

// sameInBothModes fails unless the transcripts of the two modes are the
// same. With STACKWAVE_TRANSCRIPTS=DIR it writes them there, for diff.
func sameInBothModes(t *testing.T, local, remote string) {
	t.Helper()
	if local == remote {
		return
	}
	if dir := os.Getenv("STACKWAVE_TRANSCRIPTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "local"), []byte(local), 0o644)
		os.WriteFile(filepath.Join(dir, "remote"), []byte(remote), 0o644)
	}
	t.Errorf("local and remote differ:\n--- local\n%s\n--- remote\n%s", local, remote)
}
