package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/store"
)

// openDeployments returns the deployments the commands act on: the
// server's with --server (or STACKWAVE_SERVER), else the local store's
// and runtime's.
func openDeployments(ctx context.Context, env *cliEnv, b *backendFlags) (deployments, error) {
	if u := env.serverURL(); u != "" {
		if b.store != "" || (b.runtime != runtimeAuto && b.runtime != "") || len(b.faults) > 0 {
			return nil, usageError{fmt.Errorf("--store, --runtime and --fault are the server's to choose: leave them out with --server")}
		}
		c, err := newClient(env, u)
		if err != nil {
			return nil, usageError{err}
		}
		return &remoteDeployments{c: c}, nil
	}
	return openLocal(ctx, b)
}

// openFor opens the deployments of the flags for the command cmd; when
// it cannot, it says why and returns the exit code.
func openFor(ctx context.Context, env *cliEnv, b *backendFlags, cmd string) (deployments, int) {
	d, err := openDeployments(ctx, env, b)
	if err == nil {
		return d, exitOK
	}
	if ue, ok := err.(usageError); ok {
		env.errorf("%s: %v", cmd, ue.error)
		return nil, exitUsage
	}
	env.errorf("%s: %v", cmd, err)
	return nil, codeOf(err)
}

// opFlags are the flags of the commands that start an operation.
type opFlags struct {
	policy   string
	detach   bool
	progress string
	timeout  time.Duration
}

func addOpFlags(fs *flag.FlagSet) *opFlags {
	o := &opFlags{}
	fs.StringVar(&o.policy, "policy", "fail-fast", "failure policy: fail-fast, continue or rollback")
	fs.BoolVar(&o.detach, "detach", false, "with --server: print the operation ID and return at once; follow it with: stackwave events NAME --operation ID --follow")
	fs.StringVar(&o.progress, "progress", "auto", "progress display: auto (live on a terminal), live, plain, none")
	return o
}

// runOperation runs op on the deployments of the flags, showing its
// progress as apply does, and returns the exit code: 0 when it succeeded.
// Unless quiet, it prints how the operation ended.
func runOperation(env *cliEnv, b *backendFlags, o *opFlags, op store.OpType, req deploy.Request, what string, quiet bool) int {
	pol, err := deploy.ParsePolicy(o.policy)
	if err != nil {
		env.errorf("--policy: %v", err)
		return exitUsage
	}
	req.Policy = pol
	ctx, cancel := signalContext()
	defer cancel()
	d, code := openFor(ctx, env, b, string(op))
	if code != exitOK {
		return code
	}
	defer d.Close()
	prog := newProgress(o.progress, env.stdout)
	rec, err := d.Run(ctx, op, req, o.detach, prog.event)
	prog.done()
	if err != nil {
		if ue, ok := err.(usageError); ok {
			env.errorf("%s: %v", op, ue.error)
			return exitUsage
		}
		if err == errDetachLocal {
			env.errorf("%s: %v", op, err)
			return exitUsage
		}
		return apiFailed(env, fmt.Errorf("%s %s: %w", op, what, err))
	}
	if o.detach {
		fmt.Fprintln(env.stdout, rec.ID)
		return exitOK
	}
	if rec.Status != store.OpSucceeded {
		env.errorf("%s", orDefault(rec.Message, fmt.Sprintf("%s %s: %s", op, what, rec.Status)))
		return exitFailed
	}
	if !quiet {
		fmt.Fprintf(env.stdout, "%s %s: %s\n", op, what, rec.Status)
	}
	return exitOK
}

func stackOpCmd(op store.OpType) func(fs *flag.FlagSet, env *cliEnv) runner {
	return func(fs *flag.FlagSet, env *cliEnv) runner {
		o := addOpFlags(fs)
		b := addBackendFlags(fs)
		return func(args []string) int {
			pos, code, ok := wantArgs(env, string(op), args, 2, "a deployment NAME and a STACK")
			if !ok {
				return code
			}
			return runOperation(env, b, o, op, deploy.Request{Deployment: pos[0], Stack: pos[1]}, pos[0]+" "+pos[1], false)
		}
	}
}

func scaleCmd(fs *flag.FlagSet, env *cliEnv) runner {
	o := addOpFlags(fs)
	b := addBackendFlags(fs)
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "scale", args, 3, "a deployment NAME, STACK/SERVICE and the number of instances N")
		if !ok {
			return code
		}
		stack, service, found := strings.Cut(pos[1], "/")
		if !found || stack == "" || service == "" || strings.Contains(service, "/") {
			env.errorf("scale: %q: want STACK/SERVICE", pos[1])
			return exitUsage
		}
		n, err := strconv.Atoi(pos[2])
		if err != nil || n < 1 {
			env.errorf("scale: %q: want a number of instances, 1 or more (stop the stack to run none)", pos[2])
			return exitUsage
		}
		req := deploy.Request{Deployment: pos[0], Stack: stack, Service: service, Instances: n}
		return runOperation(env, b, o, store.OpScale, req, fmt.Sprintf("%s %s to %d", pos[0], pos[1], n), false)
	}
}

// withDeployments opens the deployments of the flags for a reading
// command and returns the exit code of fn.
func withDeployments(env *cliEnv, b *backendFlags, cmd string, fn func(ctx context.Context, d deployments) error) int {
	ctx, cancel := signalContext()
	defer cancel()
	if env.ctx != nil {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(env.ctx)
		defer stop()
	}
	d, code := openFor(ctx, env, b, cmd)
	if code != exitOK {
		return code
	}
	defer d.Close()
	if err := fn(ctx, d); err != nil {
		return apiFailed(env, fmt.Errorf("%s: %w", cmd, err))
	}
	return exitOK
}

func deploymentsListCmd(fs *flag.FlagSet, env *cliEnv) runner {
	output := addOutputFlag(fs)
	b := addBackendFlags(fs)
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "deployments list", args, 0, ""); !ok {
			return code
		}
		return withDeployments(env, b, "deployments list", func(ctx context.Context, d deployments) error {
			list, err := d.List(ctx)
			if err != nil {
				return err
			}
			if *output != "text" {
				if list == nil {
					list = []api.DeploymentSummary{}
				}
				if code := writeOutput(env, *output, map[string]any{"deployments": list}); code != exitOK {
					return exitCode(code)
				}
				return nil
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tVERSION\tLAST OPERATION\tUPDATED")
			for _, s := range list {
				last := ""
				if op := s.LastOperation; op != nil {
					last = string(op.Type) + " " + string(op.Status)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Status, s.VersionID, last, s.UpdatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		})
	}
}

func historyCmd(fs *flag.FlagSet, env *cliEnv) runner {
	output := addOutputFlag(fs)
	b := addBackendFlags(fs)
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "deployments history", args, 1, "a deployment NAME")
		if !ok {
			return code
		}
		return withDeployments(env, b, "deployments history", func(ctx context.Context, d deployments) error {
			ops, err := d.Operations(ctx, pos[0])
			if err != nil {
				return err
			}
			if *output != "text" {
				if ops == nil {
					ops = []store.Operation{}
				}
				if code := writeOutput(env, *output, map[string]any{"operations": ops}); code != exitOK {
					return exitCode(code)
				}
				return nil
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "OPERATION\tTYPE\tTARGET\tSTATUS\tSTARTED\tTOOK\tMESSAGE")
			for _, op := range ops {
				target := op.ToVersionID
				switch {
				case op.Service != "":
					target = fmt.Sprintf("%s/%s=%d", op.Stack, op.Service, op.Instances)
				case op.Stack != "":
					target = op.Stack
				}
				took := ""
				if !op.EndedAt.IsZero() {
					took = op.EndedAt.Sub(op.StartedAt).Round(time.Millisecond).String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", op.ID, op.Type, target, op.Status,
					op.StartedAt.UTC().Format(time.RFC3339), took, op.Message)
			}
			return tw.Flush()
		})
	}
}

func eventsCmd(fs *flag.FlagSet, env *cliEnv) runner {
	output := addOutputFlag(fs)
	follow := fs.Bool("follow", false, "wait for the events of a running operation until it ends")
	opID := fs.String("operation", "", "the operation whose events to show (default: the last one)")
	after := fs.Int64("after-seq", 0, "show only the events after this sequence number (resume a broken stream)")
	b := addBackendFlags(fs)
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "events", args, 1, "a deployment NAME")
		if !ok {
			return code
		}
		if *after < 0 {
			env.errorf("events: --after-seq %d: want 0 or more", *after)
			return exitUsage
		}
		return withDeployments(env, b, "events", func(ctx context.Context, d deployments) error {
			var werr error
			err := d.Events(ctx, pos[0], *opID, *after, *follow, func(e api.Event) {
				if werr != nil {
					return
				}
				switch *output {
				case "text":
					ev := deploy.Event{Type: deploy.EventType(e.Type), Deployment: e.Deployment, OperationID: e.OperationID,
						Stack: e.Stack, Service: e.Service, Time: e.Time, Message: e.Message}
					_, werr = fmt.Fprintf(env.stdout, "%d %s\n", e.Seq, ev)
				case "json":
					// One object a line, so a reader can follow the stream.
					if code := writeCompactJSON(env, e); code != exitOK {
						werr = exitCode(code)
					}
				default:
					if code := writeOutput(env, "yaml", []api.Event{e}); code != exitOK {
						werr = exitCode(code)
					}
				}
			}, func() {
				if werr == nil {
					werr = writeCaughtUp(env, *output)
				}
			})
			if err != nil {
				return err
			}
			return werr
		})
	}
}

// writeCaughtUp prints the mark events --follow prints between the
// stored events of a running operation and those that come live.
func writeCaughtUp(env *cliEnv, output string) error {
	var code int
	switch output {
	case "text":
		_, err := fmt.Fprintln(env.stdout, "-- caught up: following live events --")
		return err
	case "json":
		code = writeCompactJSON(env, map[string]bool{"caught_up": true})
	default:
		code = writeOutput(env, "yaml", []map[string]bool{{"caught_up": true}})
	}
	if code != exitOK {
		return exitCode(code)
	}
	return nil
}
