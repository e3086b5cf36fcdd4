package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeBlocks returns the lines of the README's ```sh blocks.
func readmeBlocks(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "```sh":
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, cur)
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

var exitComment = regexp.MustCompile(`#\s*exit (\d+)`)

// TestReadmeDayTwo runs the README's shell blocks (the day-two commands
// and the rollback on the simulated runtime) as written, each line in
// bash with the stackwave binary on PATH, in a directory holding the
// repository's examples. A line ending with "&" starts a server, which
// the test waits for; its address 127.0.0.1:8080, there and in the lines
// that follow, is replaced by a free one so the test runs beside anything
// else. A line must exit 0, or the code its "# exit N" comment says.
func TestReadmeDayTwo(t *testing.T) {
	blocks := readmeBlocks(t)
	if len(blocks) < 2 {
		t.Fatalf("README has %d ```sh blocks, want the day-two and rollback ones", len(blocks))
	}
	bin := stackwaveBinary(t)
	dir := t.TempDir()
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for i, block := range blocks {
		var servers []*process
		addr := "" // where the block's server listens
		stop := func() {
			for _, s := range servers {
				s.kill()
			}
			servers = nil
		}
		for _, line := range block {
			cmdline := line
			if addr != "" {
				cmdline = strings.ReplaceAll(line, "127.0.0.1:8080", addr)
			}
			want := 0
			if m := exitComment.FindStringSubmatch(line); m != nil {
				want = int(m[1][0] - '0')
			}
			code, _, _ := strings.Cut(cmdline, "#")
			code = strings.TrimSpace(code)
			switch {
			case code == "":
				continue
			case code == "kill %1":
				stop()
				continue
			case strings.HasPrefix(code, "export "):
				env = append(env, strings.TrimPrefix(code, "export "))
				continue
			case strings.HasSuffix(code, "&"):
				args := strings.Fields(strings.ReplaceAll(strings.TrimSuffix(code, "&"), "127.0.0.1:8080", "127.0.0.1:0"))
				// Leading NAME=VALUE words set the server's environment.
				var vars []string
				for len(args) > 0 && strings.Contains(args[0], "=") {
					vars, args = append(vars, args[0]), args[1:]
				}
				if len(args) < 2 || args[0] != "stackwave" || args[1] != "serve" {
					t.Fatalf("block %d: background command %q: the test starts only stackwave serve", i, line)
				}
				s := startServeIn(t, dir, append(env[:len(env):len(env)], vars...), args[2:]...)
				servers = append(servers, s)
				addr = s.addr()
				continue
			}
			cmd := exec.Command("bash", "-c", code)
			cmd.Dir, cmd.Env = dir, env
			out, _ := cmd.CombinedOutput()
			got := cmd.ProcessState.ExitCode()
			if got != want {
				var logs strings.Builder
				for _, s := range servers {
					logs.WriteString(s.output())
				}
				t.Errorf("block %d: %s\nexit %d, want %d\n%s\nserver:\n%s", i, line, got, want, out, logs.String())
			} else if testing.Verbose() {
				t.Logf("$ %s\n%s", code, out)
			}
		}
		stop()
	}
}
