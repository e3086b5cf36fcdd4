package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/runtime"
)

// logs reads what the instances of a deployment wrote from the local
// runtime, as GET /api/deployments/{name}/logs does on a server: the
// deployment must be in the store, the runtime must read logs, and a
// response that does not follow stops at the server's default bounds,
// so that both modes print the same.
func (l *localDeployments) Logs(ctx context.Context, name string, q runtime.LogQuery) (runtime.LogStream, error) {
	if _, err := l.ex.Store().GetDeployment(ctx, name); err != nil {
		return nil, err
	}
	rt := l.ex.Runtime()
	lr, ok := rt.(runtime.LogReader)
	if !ok {
		return nil, fmt.Errorf("%w: the %s runtime cannot read logs", runtime.ErrNotSupported, rt.Name())
	}
	s, err := lr.Logs(ctx, name, q)
	if err != nil {
		return nil, runtime.MapError(rt, err)
	}
	if q.Follow {
		return s, nil
	}
	return runtime.LimitLogs(s, api.DefaultMaxLogLines, api.DefaultMaxLogBytes), nil
}

func (r *remoteDeployments) Logs(ctx context.Context, name string, q runtime.LogQuery) (runtime.LogStream, error) {
	return r.c.Logs(ctx, name, q)
}

// logsCmd prints what the instances of a deployment wrote, as docker
// logs and kubectl logs do.
func logsCmd(fs *flag.FlagSet, env *cliEnv) runner {
	output := addOutputFlag(fs)
	follow := fs.Bool("follow", false, "keep printing lines as they are written, until every instance selected stops")
	since := fs.String("since", "", "only lines written at or after this RFC 3339 time (2006-01-02T15:04:05Z) or this long ago (10m)")
	tail := fs.Int("tail", 0, "only the last N lines of each instance (0: all)")
	timestamps := fs.Bool("timestamps", false, "print the time the runtime recorded each line")
	b := addBackendFlags(fs)
	return func(args []string) int {
		if len(args) == 0 || len(args) > 2 {
			_, code, _ := wantArgs(env, "logs", args, max(1, min(len(args), 2)), "a deployment NAME and, optionally, STACK[/SERVICE[/INSTANCE]]")
			return code
		}
		q, err := logQuery(args[1:], *since, *tail, *follow, time.Now())
		if err != nil {
			env.errorf("logs: %v", err)
			fmt.Fprintln(env.stderr, "Run 'stackwave logs --help' for usage.")
			return exitUsage
		}
		name := args[0]
		return withDeployments(env, b, "logs", func(ctx context.Context, d deployments) error {
			s, err := d.Logs(ctx, name, q)
			if err != nil {
				return err
			}
			defer s.Close()
			for {
				l, err := s.Next()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if errors.Is(err, api.ErrLogsTruncated) {
					return fmt.Errorf("%w: stopped at %d lines or %d bytes; narrow it with --tail, --since or STACK/SERVICE, or --follow",
						api.ErrLogsTruncated, api.DefaultMaxLogLines, api.DefaultMaxLogBytes)
				}
				if err != nil {
					return err
				}
				if err := writeLogLine(env, *output, l, *timestamps); err != nil {
					return err
				}
			}
		})
	}
}

// logQuery reads the selection STACK[/SERVICE[/INSTANCE]] and the flags
// of logs, as the API's logs route reads its parameters.
func logQuery(sel []string, since string, tail int, follow bool, now time.Time) (runtime.LogQuery, error) {
	q := runtime.LogQuery{Follow: follow, Tail: tail}
	if len(sel) == 1 {
		parts := strings.Split(sel[0], "/")
		for _, p := range parts {
			if p == "" || len(parts) > 3 {
				return q, fmt.Errorf("%q: want STACK, STACK/SERVICE or STACK/SERVICE/INSTANCE", sel[0])
			}
		}
		q.Stack = parts[0]
		if len(parts) > 1 {
			q.Service = parts[1]
		}
		if len(parts) > 2 {
			q.Instance = parts[2]
		}
	}
	if tail < 0 {
		return q, fmt.Errorf("--tail %d: want a number of lines, or 0 for all", tail)
	}
	if since != "" {
		if t, err := time.Parse(time.RFC3339Nano, since); err == nil {
			q.Since = t
		} else if d, err := time.ParseDuration(since); err == nil && d > 0 {
			q.Since = now.Add(-d)
		} else {
			return q, fmt.Errorf("--since %q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a positive duration (10m)", since)
		}
	}
	return q, nil
}

// writeLogLine prints one line: "INSTANCE | text" (after the time with
// timestamps), or the API's record in JSON (one a line) or YAML.
func writeLogLine(env *cliEnv, output string, l runtime.LogLine, timestamps bool) error {
	if !timestamps {
		l.Time = time.Time{}
	}
	var code int
	switch output {
	case "text":
		prefix := ""
		if timestamps {
			prefix = "-"
			if !l.Time.IsZero() {
				prefix = l.Time.UTC().Format(time.RFC3339Nano)
			}
			prefix += " "
		}
		_, err := fmt.Fprintf(env.stdout, "%s%s | %s\n", prefix, l.Instance, l.Text)
		return err
	case "json":
		code = writeCompactJSON(env, logEntry(l))
	default:
		code = writeOutput(env, "yaml", []api.LogEntry{logEntry(l)})
	}
	if code != exitOK {
		return exitCode(code)
	}
	return nil
}

func logEntry(l runtime.LogLine) api.LogEntry {
	return api.LogEntry{Stack: l.Stack, Service: l.Service, Instance: l.Instance, Stream: string(l.Stream), Time: l.Time, Text: l.Text}
}
