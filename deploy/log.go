package deploy

import (
	"context"
	"log/slog"
)

// logFunc logs one diagnostic record.
type logFunc func(level slog.Level, msg string, args ...any)

// log logs a diagnostic about the operation with the executor's Logger,
// on ctx (the operation's), with the attributes deployment, operation
// and op before args. Errors in args pass the operation's redactor.
func (o *operation) log(ctx context.Context, level slog.Level, msg string, args ...any) {
	l := o.e.log
	if l == nil || !l.Enabled(ctx, level) {
		return
	}
	for i, a := range args {
		if err, ok := a.(error); ok && o.redact != nil {
			args[i] = o.redact.Error(err)
		}
	}
	attrs := append([]any{slog.String("deployment", o.name), slog.String("operation", o.id), slog.String("op", string(o.typ))}, args...)
	switch level {
	case slog.LevelDebug:
		l.DebugContext(ctx, msg, attrs...)
	case slog.LevelInfo:
		l.InfoContext(ctx, msg, attrs...)
	case slog.LevelWarn:
		l.WarnContext(ctx, msg, attrs...)
	case slog.LevelError:
		l.ErrorContext(ctx, msg, attrs...)
	default:
		l.Log(ctx, level, msg, attrs...)
	}
}

// logFunc returns o.log bound to ctx, for the operation's helpers that
// run on goroutines of their own (the recorder).
func (o *operation) logFunc(ctx context.Context) logFunc {
	ctx = context.WithoutCancel(ctx)
	return func(level slog.Level, msg string, args ...any) { o.log(ctx, level, msg, args...) }
}

// LogValue renders the event for log/slog as a group of its type,
// deployment, operation, stack, service and message (those set). Like
// the event, it never holds env values.
func (e Event) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("type", string(e.Type)))
	if e.Deployment != "" {
		attrs = append(attrs, slog.String("deployment", e.Deployment))
	}
	if e.OperationID != "" {
		attrs = append(attrs, slog.String("operation", e.OperationID))
	}
	if e.Stack != "" {
		attrs = append(attrs, slog.String("stack", e.Stack))
	}
	if e.Service != "" {
		attrs = append(attrs, slog.String("service", e.Service))
	}
	if e.Message != "" {
		attrs = append(attrs, slog.String("message", e.Message))
	}
	return slog.GroupValue(attrs...)
}

var _ slog.LogValuer = Event{}
