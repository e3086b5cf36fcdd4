package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
)

// servingLine starts the line serve writes to stderr once it listens.
const servingLine = "stackwave: serving the API on "

// startServe starts `stackwave serve args...` as a process, with env as
// its environment when not nil, and returns once the process says it
// listens: it listens on 127.0.0.1:0 unless args hold --addr, and the
// returned process's url is where. The process is killed at the end of
// the test; its output is logged if the test failed.
func startServe(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startServeIn(t, "", env, args...)
}

// startServeIn is startServe in the directory dir.
func startServeIn(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	if !slices.Contains(args, "--addr") {
		args = append([]string{"--addr", "127.0.0.1:0"}, args...)
	}
	s := &process{t: t, logs: &bytes.Buffer{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	s.cmd = exec.Command(stackwaveBinary(t), append([]string{"serve"}, args...)...)
	s.cmd.Dir, s.cmd.Env = dir, env
	s.cmd.Stdout = lockedBuffer{s.mu, s.logs}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		br := bufio.NewReader(stderr)
		for {
			line, err := br.ReadString('\n')
			lockedBuffer{s.mu, s.logs}.Write([]byte(line))
			if rest, ok := strings.CutPrefix(line, servingLine); ok {
				url, _, _ := strings.Cut(rest, " ")
				select {
				case listening <- strings.TrimSpace(url):
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		<-copied // Wait closes the pipe: read it all first
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("serve %s:\n%s", strings.Join(args, " "), s.output())
		}
	})
	// A generous deadline, only as a last guard: the process says when
	// it listens, or exits.
	select {
	case s.url = <-listening:
	case <-s.exited:
		t.Fatalf("serve %s exited: %v\n%s", strings.Join(args, " "), s.cmd.ProcessState, s.output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("serve %s did not listen:\n%s", strings.Join(args, " "), s.output())
	}
	return s
}

// kill stops the process with SIGKILL (no shutdown, no final writes) and
// waits for it to exit.
func (s *process) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// addr is the host:port the process listens on.
func (s *process) addr() string { return strings.TrimPrefix(s.url, "http://") }

// waitEvent follows the events of operation opID of deployment name on
// the server at url until match accepts one, and fails the test if the
// operation ends first. A generous deadline guards only against a hang.
func waitEvent(t *testing.T, url, name, opID string, match func(api.Event) bool) api.Event {
	t.Helper()
	return waitEventAs(t, url, "", name, opID, match)
}

// waitEventAs is waitEvent with a bearer token.
func waitEventAs(t *testing.T, url, token, name, opID string, match func(api.Event) bool) api.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var found *api.Event
	r := &remoteDeployments{c: &api.Client{URL: url, Token: token}}
	err := r.Events(ctx, name, opID, 0, true, func(e api.Event) {
		if found == nil && match(e) {
			found = &e
			cancel()
		}
	}, nil)
	if found == nil {
		t.Fatalf("events of %s %s: no event matched (%v)", name, opID, err)
	}
	return *found
}

// operationEnds matches the last event of an operation.
func operationEnds(e api.Event) bool { return endsOperation(e.Event, e.OperationID) }
