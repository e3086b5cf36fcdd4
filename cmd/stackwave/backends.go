package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/stackwave/stackwave/runtime"
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
		rt, closeRT, err := openRuntime(ctx, runtimeDocker)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errNoRuntime, err)
		}
		return rt, closeRT, nil
	}
	return openRuntime(ctx, b.runtime)
}

// errNoRuntime is returned when auto finds no runtime.
var errNoRuntime = errors.New("no runtime: the Docker engine is not reachable (set DOCKER_HOST or start it), or choose --runtime kube or --runtime memory")
