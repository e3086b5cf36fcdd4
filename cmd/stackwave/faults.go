package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
)

// faultUsage documents --fault.
const faultUsage = `with --runtime memory: make the simulated runtime misbehave, TARGET=KIND (repeatable).
TARGET is *, STACK or STACK/SERVICE; KIND is one of
  exit[:CODE]         instances exit with CODE (default 1) as they start
  crash[:CODE]        instances exit with CODE (default 1) once ready
  never-ready[:WHY]   instances run but never become ready; WHY, if given, is the reason
                      the runtime reports while it waits, which a timeout's error names
  apply-error[:P]     applying the service fails (with probability P, 0 < P <= 1: the whole stack's apply)
  remove-error        removing the service fails
  init-error[:CODE]   init scripts in the service exit with CODE (default 1)
  wait-error          waiting for the service's readiness fails
e.g. --fault kodo-1/authproxy-in=exit:3 --fault 'mysql-cluster=never-ready:no primary elected' --fault '*=apply-error:0.2'`

// faultFlag collects --fault specs.
type faultFlag struct{ specs *[]string }

func (f faultFlag) String() string {
	if f.specs == nil {
		return ""
	}
	return strings.Join(*f.specs, ", ")
}

func (f faultFlag) Set(s string) error {
	if _, err := parseFault(s); err != nil {
		return err
	}
	*f.specs = append(*f.specs, s)
	return nil
}

// fault is one parsed --fault: a rule of the simulated runtime, or a
// stack apply failing at random.
type fault struct {
	rule sim.Fault
	// chance, when set, fails the Apply calls of matching stacks with
	// this probability instead of rule.
	chance float64
}

// parseFault parses TARGET=KIND[:ARG].
func parseFault(spec string) (fault, error) {
	target, kind, ok := strings.Cut(spec, "=")
	if !ok || target == "" || kind == "" {
		return fault{}, fmt.Errorf("%q: want TARGET=KIND, e.g. kodo-1/authproxy-in=exit:3", spec)
	}
	var f fault
	if target != "*" {
		stack, service, _ := strings.Cut(target, "/")
		if stack == "" || strings.Contains(service, "/") {
			return fault{}, fmt.Errorf("%q: target %q: want *, STACK or STACK/SERVICE", spec, target)
		}
		f.rule.Stack, f.rule.Service = stack, service
		if stack == "*" {
			f.rule.Stack = ""
		}
	}
	kind, arg, hasArg := strings.Cut(kind, ":")
	code := func() error {
		f.rule.ExitCode = 1
		if !hasArg {
			return nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > 255 {
			return fmt.Errorf("%q: exit code %q: want 1 to 255", spec, arg)
		}
		f.rule.ExitCode = n
		return nil
	}
	noArg := func() error {
		if hasArg {
			return fmt.Errorf("%q: %s takes no argument", spec, kind)
		}
		return nil
	}
	var err error
	switch kind {
	case "exit":
		f.rule.Kind, err = sim.ExitOnStart, code()
	case "crash":
		f.rule.Kind, err = sim.CrashAfterReady, code()
	case "never-ready":
		f.rule.Kind = sim.NeverReady
		if hasArg {
			var why string
			why, err = faultReason(spec, arg)
			f.rule.Err = errors.New(why)
		}
	case "apply-error":
		f.rule.Kind = sim.FailApply
		if hasArg {
			p, perr := strconv.ParseFloat(arg, 64)
			if perr != nil || !(p > 0 && p <= 1) {
				err = fmt.Errorf("%q: probability %q: want a number above 0, at most 1", spec, arg)
			}
			f.chance = p
		}
	case "remove-error":
		f.rule.Kind, err = sim.FailRemove, noArg()
	case "init-error":
		f.rule.Kind, err = sim.FailInit, code()
	case "wait-error":
		f.rule.Kind, err = sim.FailWait, noArg()
	default:
		err = fmt.Errorf("%q: unknown fault %q: want exit, crash, never-ready, apply-error, remove-error, init-error or wait-error", spec, kind)
	}
	if err != nil {
		return fault{}, err
	}
	return f, nil
}

// faultReason reads the reason of never-ready: the text after the
// colon, or a double-quoted Go string when the shell kept the quotes
// (never-ready:"no primary elected").
func faultReason(spec, arg string) (string, error) {
	why := arg
	if strings.HasPrefix(arg, `"`) {
		u, err := strconv.Unquote(arg)
		if err != nil {
			return "", fmt.Errorf("%q: reason %s: want a text, or one double-quoted string", spec, arg)
		}
		why = u
	}
	if strings.TrimSpace(why) == "" {
		return "", fmt.Errorf("%q: reason: want a text after never-ready:, or no colon", spec)
	}
	return why, nil
}

// errFaultsNeedMemory refuses --fault on a real runtime.
var errFaultsNeedMemory = errors.New("--fault needs --runtime memory: faults are the simulated runtime's")

// withFaults returns rt with the faults injected: rules of the simulated
// runtime, and random apply failures around it.
func withFaults(rt *sim.Runtime, specs []string) (runtime.Runtime, error) {
	var chancy []fault
	for _, s := range specs {
		f, err := parseFault(s)
		if err != nil {
			return nil, err
		}
		if f.chance > 0 {
			chancy = append(chancy, f)
			continue
		}
		rt.Inject(f.rule)
	}
	if len(chancy) == 0 {
		return rt, nil
	}
	return &chancyRuntime{Runtime: rt, faults: chancy}, nil
}

// chancyRuntime fails Apply at random for the stacks of its faults. It
// embeds the simulated runtime, so it keeps its optional interfaces
// (Lifecycle and the others).
type chancyRuntime struct {
	*sim.Runtime
	faults []fault
	mu     sync.Mutex
}

func (r *chancyRuntime) Apply(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) error {
	for _, f := range r.faults {
		if f.rule.Stack != "" && f.rule.Stack != spec.Stack.Name {
			continue
		}
		if f.rule.Service != "" && !hasService(spec, f.rule.Service) {
			continue
		}
		r.mu.Lock()
		fire := rand.Float64() < f.chance
		r.mu.Unlock()
		if fire {
			return fmt.Errorf("apply %s/%s: injected fault (apply-error:%g): %w", spec.Deployment, spec.Stack.Name, f.chance, runtime.ErrUnavailable)
		}
	}
	return r.Runtime.Apply(ctx, spec, report)
}

func hasService(spec *runtime.StackSpec, name string) bool {
	for _, s := range spec.Stack.Services {
		if s.Name == name {
			return true
		}
	}
	return false
}
