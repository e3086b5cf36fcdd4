package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/internal/sample"
)

// BenchmarkApplyOverhead runs `stackwave apply` of the quickstart product
// (the seed's shape: a database tier, then two stacks behind it) on Docker
// in this process, end to end, and reports how much of it was spent
// outside the operation, step by step (see benchApply). The deployment is
// destroyed between rounds (not timed).
func BenchmarkApplyOverhead(b *testing.B) {
	ref := dockertest.TestApp(b)
	image, tag, _ := strings.Cut(ref, ":")
	dir := b.TempDir()
	doc := filepath.Join(dir, "product.json")
	tpl := filepath.Join(dir, "proxy.conf")
	must(b, os.WriteFile(doc, []byte(strings.NewReplacer("IMAGE_NAME", image, "IMAGE_TAG", tag).Replace(quickstartProduct)), 0o600))
	must(b, os.WriteFile(tpl, []byte(quickstartTemplate), 0o600))
	benchApply(b, []string{"-f", doc, "--config", demoConfigPath + "=" + tpl},
		[]string{"--runtime", "docker", "--store", "sqlite:" + filepath.Join(dir, "stackwave.db")})
}

// BenchmarkApplyOverheadKube is BenchmarkApplyOverhead on the test
// control plane (internal/kubetest) through KUBECONFIG, with a product of
// one tier of 100 one-service stacks (a Deployment and a Service each):
// the final report covers 100 stacks.
func BenchmarkApplyOverheadKube(b *testing.B) {
	env := kubetest.Start(b, nil)
	b.Setenv("KUBECONFIG", env.Kubeconfig)
	dir := b.TempDir()
	doc := filepath.Join(dir, "product.json")
	must(b, os.WriteFile(doc, sample.WideTier("applybench", 100), 0o600))
	benchApply(b, []string{"-f", doc}, []string{"--runtime", "kube", "--store", "sqlite:" + filepath.Join(dir, "stackwave.db")})
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// applySteps are the points apply reports to applyStep, in order.
var applySteps = []string{"begin", "read", "opened", "prechecked", "registered", "operation-started", "operation-done", "reported"}

// benchApply runs apply with args and backend once per round and reports
// medians over the rounds: ms-read (the document read and checked),
// ms-open (opening the store and the runtime),
// ms-precheck, ms-register, ms-start (from the version registered to the
// operation-started event), ms-before (from the command's start to that
// event), ms-after (from the operation-done event to the end of the final
// report), ms-outside (before + after), cpu-ms-outside (this process's
// CPU time, user and system, in those two spans; cpu-ms-open,
// cpu-ms-precheck, cpu-ms-start (register and start) and cpu-ms-after
// split it) and s-apply (the whole command). Under load, the CPU times
// vary far less than the wall-clock ones. The deployment is destroyed between rounds (not timed).
func benchApply(b *testing.B, args, backend []string) {
	per := map[string][]time.Duration{}
	add := func(k string, d time.Duration) { per[k] = append(per[k], d) }
	for b.Loop() {
		// A new deployment each round: a launch of the name the round
		// before destroyed is a relaunch, which looks at the runtime for
		// what is left of it, and its cluster is still busy with the
		// teardown.
		name := uniqueName("applybench")
		cmd := append(append([]string{"apply", "--name", name, "--progress", "plain"}, args...), backend...)
		at, cpu := map[string]time.Time{}, map[string]time.Duration{}
		applyStep = func(step string) { at[step], cpu[step] = time.Now(), cpuTime(b) }
		var out, errOut strings.Builder
		code := run(cmd, strings.NewReader(""), &out, &errOut)
		applyStep = nil
		if code != exitOK {
			b.Fatalf("apply: exit %d\n%s\n%s", code, out.String(), errOut.String())
		}
		for _, s := range applySteps {
			if at[s].IsZero() {
				b.Fatalf("apply did not report step %s", s)
			}
		}
		span := func(from, to string) time.Duration { return at[to].Sub(at[from]) }
		add("ms-read", span("begin", "read"))
		add("ms-open", span("read", "opened"))
		add("ms-precheck", span("opened", "prechecked"))
		add("ms-register", span("prechecked", "registered"))
		add("ms-start", span("registered", "operation-started"))
		add("ms-before", span("begin", "operation-started"))
		add("ms-after", span("operation-done", "reported"))
		add("ms-outside", span("begin", "operation-started")+span("operation-done", "reported"))
		add("cpu-ms-outside", cpu["operation-started"]-cpu["begin"]+cpu["reported"]-cpu["operation-done"])
		add("cpu-ms-open", cpu["opened"]-cpu["read"])
		add("cpu-ms-precheck", cpu["prechecked"]-cpu["opened"])
		add("cpu-ms-start", cpu["operation-started"]-cpu["prechecked"])
		add("cpu-ms-after", cpu["reported"]-cpu["operation-done"])
		add("s-apply", span("begin", "reported"))
		b.StopTimer()
		if code := run(append([]string{"destroy", name, "--delete-data", "--progress", "none"}, backend...), strings.NewReader(""), &out, &errOut); code != exitOK {
			b.Fatalf("destroy: exit %d\n%s", code, errOut.String())
		}
		b.StartTimer()
	}
	for k, ds := range per {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		m := ds[len(ds)/2]
		if k == "s-apply" {
			b.ReportMetric(m.Seconds(), k)
			continue
		}
		b.ReportMetric(float64(m.Microseconds())/1000, k)
	}
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
