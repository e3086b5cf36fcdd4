package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
		addr := freeAddr(t)
		var servers []*exec.Cmd
		var mu sync.Mutex
		var logs bytes.Buffer
		stop := func() {
			for _, s := range servers {
				s.Process.Kill()
				s.Wait()
			}
			servers = nil
		}
		for _, line := range block {
			cmdline := strings.ReplaceAll(line, "127.0.0.1:8080", addr)
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
				args := strings.Fields(strings.TrimSuffix(code, "&"))
				// Leading NAME=VALUE words set the server's environment.
				var vars []string
				for len(args) > 0 && strings.Contains(args[0], "=") {
					vars, args = append(vars, args[0]), args[1:]
				}
				if len(args) < 2 || args[0] != "stackwave" || args[1] != "serve" {
					t.Fatalf("block %d: background command %q: the test starts only stackwave serve", i, line)
				}
				if !strings.Contains(code, "--addr") {
					args = append(args, "--addr", addr)
				}
				cmd := exec.Command(bin, args[1:]...)
				cmd.Dir, cmd.Env = dir, append(env[:len(env):len(env)], vars...)
				cmd.Stdout, cmd.Stderr = lockedBuffer{&mu, &logs}, lockedBuffer{&mu, &logs}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				servers = append(servers, cmd)
				waitListening(t, addr)
				continue
			}
			cmd := exec.Command("bash", "-c", code)
			cmd.Dir, cmd.Env = dir, env
			out, _ := cmd.CombinedOutput()
			got := cmd.ProcessState.ExitCode()
			if got != want {
				mu.Lock()
				t.Errorf("block %d: %s\nexit %d, want %d\n%s\nserver:\n%s", i, line, got, want, out, logs.String())
				mu.Unlock()
			} else if testing.Verbose() {
				t.Logf("$ %s\n%s", code, out)
			}
		}
		stop()
	}
}

// waitListening waits until addr accepts connections: a generous
// deadline, only as a last guard.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
