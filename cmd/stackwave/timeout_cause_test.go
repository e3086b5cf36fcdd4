package main

import (
	"strings"
	"testing"
)

// A --timeout that stops the wait for a stack says why the stack was not
// ready, as the runtime last said it, not only that time ran out.
func TestTimeoutSaysWhatItWaitedFor(t *testing.T) {
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	code, out, errOut := cli(t, "", "apply", "-f", seedWithDB(t), "--name", "k", "--config", "/authproxy_in/qboxauthproxy.conf="+tpl,
		"--progress", "plain", "--runtime", "memory", "--fault", "mysql-cluster=never-ready", "--timeout", "1s")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"operation timed out after 1s", "stack mysql-cluster service", "readiness probe has not passed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
}

// never-ready's reason is what the simulated runtime says while it waits,
// and so what the timeout's error names.
func TestNeverReadyReasonReachesTheTimeout(t *testing.T) {
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	const why = "no primary elected: 0 of 3 votes"
	code, out, errOut := cli(t, "", "apply", "-f", seedWithDB(t), "--name", "k", "--config", "/authproxy_in/qboxauthproxy.conf="+tpl,
		"--progress", "plain", "--runtime", "memory", "--fault", "mysql-cluster/mysql-1=never-ready:"+why, "--timeout", "1s")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"operation timed out after 1s", "stack mysql-cluster service mysql-1", why} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
}
