package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/storeurl"
)

// Runtime names accepted by --runtime.
const (
	runtimeAuto   = "auto"
	runtimeDocker = "docker"
	runtimeKube   = "kube"
	runtimeMemory = "memory"
)

// backendFlags are the --store and --runtime flags shared by the commands
// that deploy.
type backendFlags struct {
	store   string
	runtime string
	// ephemeral allows --runtime memory with a store that outlives the
	// process.
	ephemeral bool
	// faults are the --fault rules for --runtime memory.
	faults []string
}

func addBackendFlags(fs *flag.FlagSet) *backendFlags {
	b := &backendFlags{}
	fs.StringVar(&b.store, "store", "", "catalog store: sqlite:PATH, postgres://..., memory: (default sqlite:stackwave.db, memory: with --runtime memory)")
	fs.StringVar(&b.runtime, "runtime", runtimeAuto, "runtime: docker, kube (KUBECONFIG), memory (simulated, in this process), auto (docker when reachable)")
	fs.BoolVar(&b.ephemeral, "allow-ephemeral-runtime", false, "allow --runtime memory with a --store that outlives this process (its records then describe deployments that run nowhere)")
	return b
}

// addConcurrencyFlag adds --concurrency: deploy.Options.Concurrency.
func addConcurrencyFlag(fs *flag.FlagSet) *int {
	return fs.Int("concurrency", 0, fmt.Sprintf("runtime calls (apply, remove, init scripts, lifecycle) in flight at once; 0 means the runtime's own bound (kube %d, docker %d, memory %d)",
		kube.DefaultConcurrency, docker.DefaultParallelism, deploy.DefaultConcurrency))
}

// addFaultFlag adds --fault to the flags of b.
func addFaultFlag(fs *flag.FlagSet, b *backendFlags) {
	fs.Var(faultFlag{&b.faults}, "fault", faultUsage)
}

// args returns the flags that name the same store and runtime (not the
// faults), for a command to print or run.
func (b *backendFlags) args() []string {
	var a []string
	if b.store != "" {
		a = append(a, "--store", b.store)
	}
	if b.runtime != runtimeAuto && b.runtime != "" {
		a = append(a, "--runtime", b.runtime)
	}
	if b.ephemeral {
		a = append(a, "--allow-ephemeral-runtime")
	}
	return a
}

// storeURL returns the store to open: the flag, or the default for the
// runtime.
func (b *backendFlags) storeURL() string {
	switch {
	case b.store != "":
		return b.store
	case b.runtime == runtimeMemory:
		// A simulated runtime lives in this process: records of it in a
		// file would outlive what they describe.
		return "memory:"
	}
	return "sqlite:stackwave.db"
}

func (b *backendFlags) openStore(ctx context.Context) (*store.Store, error) {
	if b.runtime == runtimeMemory && !strings.HasPrefix(b.storeURL(), "memory:") && !b.ephemeral {
		return nil, errEphemeralRuntime
	}
	return storeurl.Open(ctx, b.storeURL())
}

// errEphemeralRuntime refuses a simulated runtime with a lasting store.
var errEphemeralRuntime = errors.New("--runtime memory simulates containers inside this process: they stop when it exits, " +
	"while --store keeps records of them, which a later status would report as running; use --store memory:, " +
	"or --allow-ephemeral-runtime if that is what you want")

// openRuntime opens the runtime the flags name; auto is Docker when the
// engine answers.
func (b *backendFlags) openRuntime(ctx context.Context) (runtime.Runtime, func() error, error) {
	if b.runtime == runtimeAuto || b.runtime == "" {
		if len(b.faults) > 0 {
			return nil, nil, errFaultsNeedMemory
		}
		rt, closeRT, err := openRuntime(ctx, runtimeDocker, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errNoRuntime, err)
		}
		return rt, closeRT, nil
	}
	return openRuntime(ctx, b.runtime, b.faults)
}

// errNoRuntime is returned when auto finds no runtime.
var errNoRuntime = errors.New("no runtime: the Docker engine is not reachable (set DOCKER_HOST or start it), or choose --runtime kube or --runtime memory")

// open opens the store and the runtime side by side, since neither needs
// the other (opening a SQLite file and asking the engine or the API
// server whether it answers each take a while under load), and returns a
// function that closes both. When either fails, the other is closed and
// the error is the store's if it failed, as if they had been opened in
// turn.
func (b *backendFlags) open(ctx context.Context) (*store.Store, runtime.Runtime, func(), error) {
	type opened struct {
		rt      runtime.Runtime
		closeRT func() error
		err     error
	}
	ch := make(chan opened, 1)
	go func() {
		rt, closeRT, err := b.openRuntime(ctx)
		ch <- opened{rt, closeRT, err}
	}()
	st, err := b.openStore(ctx)
	r := <-ch
	if err != nil {
		if r.err == nil {
			r.closeRT()
		}
		return nil, nil, nil, fmt.Errorf("store: %w", err)
	}
	if r.err != nil {
		st.Close()
		return nil, nil, nil, r.err
	}
	return st, r.rt, func() { r.closeRT(); st.Close() }, nil
}
