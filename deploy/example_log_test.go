package deploy_test

import (
	"log/slog"
	"os"

	"github.com/stackwave/stackwave/deploy"
)

// Events log as a group of their fields; give Options.OnEvent a callback
// that logs them, and Options.Logger the same logger for the executor's
// own diagnostics.
func ExampleEvent_LogValue() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // for a stable output
			}
			return a
		},
	}))
	opts := &deploy.Options{
		Logger:  logger,
		OnEvent: func(e deploy.Event) { logger.Info("event", "event", e) },
	}
	opts.OnEvent(deploy.Event{Type: deploy.EventStackReady, Deployment: "shop", OperationID: "op-1", Stack: "db", Message: "1 services ready"})
	// Output:
	// level=INFO msg=event event.type=stack-ready event.deployment=shop event.operation=op-1 event.stack=db event.message="1 services ready"
}
