package runtimetest_test

import (
	"context"
	"sync"
)

func init() {
	mutants["watch-silent"] = []string{"Watch"}
	mutants["watch-blind"] = []string{"Watch"}
	mutants["watch-no-start-signal"] = []string{"Watch"}
	mutants["watch-after-return"] = []string{"Watch"}
	mutants["watch-concurrent"] = []string{"Watch"}
}

// Watch breaks the watch's rules.
func (m *mutant) Watch(ctx context.Context, notify func(deployment string)) error {
	switch m.bug {
	case "watch-silent":
		// Never notifies, as a watch of the wrong events would.
		<-ctx.Done()
		return ctx.Err()
	case "watch-blind":
		// Says that its stream is established, then sees nothing.
		notify("")
		<-ctx.Done()
		return ctx.Err()
	case "watch-no-start-signal":
		// Does not say when its stream is established: a change made
		// before then is missed by whoever started it.
		return m.Runtime.Watch(ctx, func(dep string) {
			if dep != "" {
				notify(dep)
			}
		})
	case "watch-after-return":
		// Returns when ctx is done but leaves its subscription behind,
		// still notifying.
		go m.Runtime.Watch(context.WithoutCancel(ctx), notify)
		<-ctx.Done()
		return ctx.Err()
	case "watch-concurrent":
		// Tells each change from two goroutines at once, as a watch
		// with one goroutine per event source would.
		return m.Runtime.Watch(ctx, func(dep string) {
			var wg sync.WaitGroup
			wg.Go(func() { notify(dep) })
			notify(dep)
			wg.Wait()
		})
	}
	return m.Runtime.Watch(ctx, notify)
}
