package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/dockertest"
)

// BenchmarkApplyOverhead runs `stackwave apply` of the quickstart product
// (the seed's shape: a database tier, then two stacks behind it) on Docker
// in this process, end to end, and reports how much of it was spent
// outside the operation: before the operation-started event (reading the
// document, opening the store and the runtime, the checks, registering
// the version) and after the operation-done event (the final report).
// ms-outside is the median of those; s-apply the median of the whole
// command. The deployment is destroyed between rounds (not timed).
func BenchmarkApplyOverhead(b *testing.B) {
	ref := dockertest.TestApp(b)
	image, tag, _ := strings.Cut(ref, ":")
	dir := b.TempDir()
	doc := filepath.Join(dir, "product.json")
	tpl := filepath.Join(dir, "proxy.conf")
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	must(os.WriteFile(doc, []byte(strings.NewReplacer("IMAGE_NAME", image, "IMAGE_TAG", tag).Replace(quickstartProduct)), 0o600))
	must(os.WriteFile(tpl, []byte(quickstartTemplate), 0o600))
	name := uniqueName("applybench")
	backend := []string{"--runtime", "docker", "--store", "sqlite:" + filepath.Join(dir, "stackwave.db")}
	var before, after, total []time.Duration
	for b.Loop() {
		var out, errOut bytes.Buffer
		start := time.Now()
		code := run(append([]string{"apply", "-f", doc, "--name", name, "--config", demoConfigPath + "=" + tpl, "--progress", "plain"}, backend...),
			strings.NewReader(""), &out, &errOut)
		end := time.Now()
		if code != exitOK {
			b.Fatalf("apply: exit %d\n%s\n%s", code, out.String(), errOut.String())
		}
		began, done := eventTime(b, out.String(), "operation-started", start), eventTime(b, out.String(), "operation-done", start)
		before, after, total = append(before, began.Sub(start)), append(after, end.Sub(done)), append(total, end.Sub(start))
		b.StopTimer()
		if code := run(append([]string{"destroy", name, "--delete-data"}, backend...), strings.NewReader(""), &out, &errOut); code != exitOK {
			b.Fatalf("destroy: exit %d\n%s", code, errOut.String())
		}
		b.StartTimer()
	}
	outside := make([]time.Duration, len(before))
	for i := range before {
		outside[i] = before[i] + after[i]
	}
	med := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	b.ReportMetric(float64(med(before).Microseconds())/1000, "ms-before")
	b.ReportMetric(float64(med(after).Microseconds())/1000, "ms-after")
	b.ReportMetric(float64(med(outside).Microseconds())/1000, "ms-outside")
	b.ReportMetric(med(total).Seconds(), "s-apply")
}

// eventTime finds the plain progress line of an event type and returns
// its time ("15:04:05.000", this host's zone) on the day of ref.
func eventTime(b *testing.B, out, typ string, ref time.Time) time.Time {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && strings.TrimSuffix(f[2], ":") == typ {
			t, err := time.ParseInLocation("15:04:05.000", f[0], ref.Location())
			if err != nil {
				b.Fatalf("event line %q: %v", sc.Text(), err)
			}
			y, m, d := ref.Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), ref.Location())
		}
	}
	b.Fatalf("no %s event in the output:\n%s", typ, out)
	return time.Time{}
}
