package docker

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
)

// RunInit runs an init script of the stack in the first instance of its
// service (the command as argv, no shell) and waits for it to end. A
// non-zero exit is a *runtime.ServiceError matching runtime.ErrFailed,
// with reason "InitScriptFailed", the exit code and the last 20 lines of
// the script's output. It reports the outcome as an init-script event.
func (r *Runtime) RunInit(ctx context.Context, spec *runtime.StackSpec, index int, report runtime.Reporter) error {
	if index < 0 || index >= len(spec.Stack.InitScripts) {
		return fmt.Errorf("%w: stack %s has no init script %d", runtime.ErrInvalid, spec.Ref(), index)
	}
	is := spec.Stack.InitScripts[index]
	if spec.Stack.Service(is.ServiceName) == nil || len(is.Command) == 0 {
		return fmt.Errorf("%w: stack %s init script %d: no service %q or no command", runtime.ErrInvalid, spec.Ref(), index, is.ServiceName)
	}
	name := r.containerName(spec.Deployment, spec.Stack.Name, is.ServiceName, 1)
	cs, err := r.listContainers(ctx, spec.Deployment, spec.Stack.Name)
	if err != nil {
		return fmt.Errorf("init script %d of stack %s: %w", index, spec.Ref(), err)
	}
	var id string
	for _, c := range cs {
		if c.name == name {
			id = c.id
		}
	}
	if id == "" {
		return fmt.Errorf("init script %d of stack %s: %w: container %s does not exist", index, spec.Ref(), runtime.ErrNotFound, name)
	}
	code, out, err := r.exec(ctx, id, is.Command)
	if err != nil {
		return fmt.Errorf("init script %d of stack %s in %s: %w", index, spec.Ref(), name, err)
	}
	what := fmt.Sprintf("init script %d %q", index, strings.Join(is.Command, " "))
	emit := func(msg string) {
		report.Emit(runtime.Event{Type: runtime.EventInitScript, Stack: spec.Stack.Name, Service: is.ServiceName, Instance: name, Message: msg})
	}
	if code != 0 {
		emit(fmt.Sprintf("%s failed with exit code %d", what, code))
		return &runtime.ServiceError{
			Deployment: spec.Deployment, Stack: spec.Stack.Name, Service: is.ServiceName, Instance: name,
			Reason: "InitScriptFailed", ExitCode: code, Logs: tailLines(out, logLines),
			Err: fmt.Errorf("%w: %s", runtime.ErrFailed, what),
		}
	}
	emit(what + " succeeded")
	return nil
}

// exec runs cmd in a running container and returns its exit code and
// combined output.
func (r *Runtime) exec(ctx context.Context, id string, cmd []string) (code int, output string, err error) {
	ex, err := r.cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return 0, "", fmt.Errorf("exec: %w", err)
	}
	att, err := r.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("exec attach: %w", err)
	}
	var out bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, att.Reader)
		copied <- err
	}()
	select {
	case err = <-copied:
		att.Close()
	case <-ctx.Done():
		att.Close()
		<-copied
		return 0, out.String(), ctx.Err()
	}
	if err != nil {
		return 0, out.String(), fmt.Errorf("exec output: %w", err)
	}
	// The exit code is recorded just after the output ends.
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		res, err := r.cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			return 0, out.String(), fmt.Errorf("exec inspect: %w", err)
		}
		if !res.Running {
			return res.ExitCode, out.String(), nil
		}
		select {
		case <-ctx.Done():
			return 0, out.String(), ctx.Err()
		case <-time.After(delay):
		}
	}
}
