package kubetest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process gets to exit after SIGTERM before it is
// killed.
const stopGrace = 10 * time.Second

// process is one control-plane program started by kubetest. Its output is
// appended to logPath; it is stopped by its process id only.
type process struct {
	name    string
	path    string
	args    []string
	logPath string

	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been waited for
	waitErr error         // valid after done is closed
	stopped bool          // stop was called; an exit is expected
}

func (p *process) start() error {
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== %s kubetest: starting %s %s\n", time.Now().Format(time.RFC3339Nano), p.path, strings.Join(p.args, " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.stopped = false
	p.done = make(chan struct{})
	done := p.done
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== %s kubetest: %s (pid %d) exited: %v\n", time.Now().Format(time.RFC3339Nano), p.name, cmd.Process.Pid, exitText(err))
		f.Close()
		p.waitErr = err
		close(done)
	}()
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// exited reports whether the process has exited (or was never started).
func (p *process) exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// unexpectedExit describes the process's exit if it ended without stop
// being called, and returns "" otherwise.
func (p *process) unexpectedExit() string {
	if p.done == nil || p.stopped || !p.exited() {
		return ""
	}
	return p.failure("exited unexpectedly: " + exitText(p.waitErr))
}

// failure formats msg with the tail of the process's log.
func (p *process) failure(msg string) string {
	return fmt.Sprintf("%s %s\n--- %s (last lines) ---\n%s", p.name, msg, p.logPath, tailFile(p.logPath, 40))
}

// stop sends SIGTERM to the process, kills it after grace, and waits for it.
func (p *process) stop(grace time.Duration) {
	if p.cmd == nil {
		return
	}
	p.stopped = true
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
