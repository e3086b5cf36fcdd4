package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/storeurl"
)

// seedTemplate is a config template for the seed's config path.
const seedTemplate = `listen 9085; upstream {{addr "mysql-cluster" "mysql-1"}}`

func seedWithDB(t *testing.T) string {
	return writeFile(t, "seed.json", strings.Replace(seed(t), `"volume_args"`,
		`"access_point": {"type": "internal_ip", "backend_ports": [3306]}, "volume_args"`, 1))
}

func TestApplyOnTheSimulatedRuntime(t *testing.T) {
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	code, out, errOut := cli(t, "", "apply", "-f", seedWithDB(t), "--name", "kodo", "--runtime", "memory",
		"--config", "/authproxy_in/qboxauthproxy.conf="+tpl, "--progress", "plain")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"stack-ready mysql-cluster",
		"deployment kodo: Available, health running, sync in-sync",
		"domain http/9085 -> authproxy-in.kodo-1.kodo.stackwave.local",
		"internal_ip tcp/3306 -> mysql-1.mysql-cluster:3306 (inside the deployment)",
		"last operation: launch",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Tier order shows in the event lines.
	if strings.Index(out, "stack-ready mysql-cluster") > strings.Index(out, "stack-applying kodo-1") {
		t.Errorf("kodo-1 applied before mysql-cluster was ready:\n%s", out)
	}
}

func TestApplyErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"no name":         {[]string{"apply", "-f", seedFile, "--runtime", "memory"}, 2, "--name is required"},
		"bad policy":      {[]string{"apply", "-f", seedFile, "--name", "k", "--runtime", "memory", "--policy", "yolo"}, 2, "want fail-fast, continue or rollback"},
		"no template":     {[]string{"apply", "-f", seedFile, "--name", "k", "--runtime", "memory", "--progress", "none"}, 2, "no template: give --config (or a file of --config-dir) for one of"},
		"unknown runtime": {[]string{"apply", "-f", seedFile, "--name", "k", "--runtime", "vm"}, 2, `unknown runtime "vm"`},
		"bad var":         {[]string{"apply", "-f", seedFile, "--name", "k", "--var", "novalue"}, 2, "want KEY=VALUE"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := cli(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", code, tc.code, errOut, tc.want)
			}
		})
	}
}

func TestPlanAgainstADeployment(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "sw.db")
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	file := seedWithDB(t)
	// A simulated runtime with a lasting store is refused unless asked
	// for, saying why; nothing is recorded.
	code, _, errOut := cli(t, "", "apply", "-f", file, "--name", "kodo", "--runtime", "memory", "--store", db,
		"--config", "/authproxy_in/qboxauthproxy.conf="+tpl, "--progress", "none")
	if code != 2 || !strings.Contains(errOut, "they stop when it exits") || !strings.Contains(errOut, "--allow-ephemeral-runtime") {
		t.Fatalf("apply --runtime memory --store %s: exit %d\n%s", db, code, errOut)
	}
	if code, out, errOut := cli(t, "", "apply", "-f", file, "--name", "kodo", "--runtime", "memory", "--store", db, "--allow-ephemeral-runtime",
		"--config", "/authproxy_in/qboxauthproxy.conf="+tpl, "--progress", "none"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	withDB, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	changed := writeFile(t, "changed.json", strings.Replace(string(withDB), `"authproxy-in.kodo-2", "tag": "latest"`, `"authproxy-in.kodo-2", "tag": "v2"`, 1))
	// A document whose templates no longer render is refused by plan
	// as by apply: mysql-1 without its port breaks the proxy's file.
	broken := writeFile(t, "broken.json", seed(t))
	if code, out, errOut := cli(t, "", "plan", "-f", broken, "--name", "kodo", "--store", db, "--runtime", "memory"); code != 2 ||
		!strings.Contains(errOut, "mysql-cluster/mysql-1 has no access point ports") {
		t.Fatalf("plan of a document that does not render: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := cli(t, "", "plan", "-f", changed, "--name", "kodo", "--store", db, "--runtime", "memory")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	want := "deployment kodo: 3 stacks: 0 to add, 1 to modify, 0 to remove, 2 unchanged\n" +
		"    mysql-cluster (tier 0)\n" +
		"    kodo-1 (tier 1)\n" +
		"  ~ kodo-2 (tier 1, replace): authproxy-in: image.tag\n"
	if out != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", out, want)
	}
	// The record is in the store: destroy finds it (the simulated runtime
	// of this process runs nothing, which removing tolerates).
	code, out, errOut = cli(t, "", "destroy", "kodo", "--runtime", "memory", "--store", db, "--allow-ephemeral-runtime", "--progress", "none")
	if code != 0 || out != "kodo terminated (volumes kept)\n" {
		t.Fatalf("destroy: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = cli(t, "", "status", "kodo", "--runtime", "memory", "--store", db, "--allow-ephemeral-runtime")
	if code != 0 || !strings.HasPrefix(out, "deployment kodo: Terminated") {
		t.Fatalf("status after destroy: exit %d\n%s", code, out)
	}
}

func TestQuickstartOnTheSimulatedRuntime(t *testing.T) {
	code, out, errOut := cli(t, "", "quickstart", "--runtime", "memory", "--progress", "none")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"deployment quickstart: Available, health running, sync in-sync",
		"domain http/9085 -> authproxy-in.kodo-2.quickstart.",
		"run it on Docker with: stackwave quickstart",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// apply checks templates and variables before it registers anything: a
// refused request leaves the catalog as it was.
func TestApplyRefusesBeforeRegistering(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "sw.db")
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	for name, args := range map[string][]string{
		"no template": {},
		"unused var":  {"--config", "/authproxy_in/qboxauthproxy.conf=" + tpl, "--var", "unused=2"},
		"unused key":  {"--config", "/authproxy_in/qboxauthproxy.conf=" + tpl, "--config", "/nope.conf=" + tpl},
	} {
		args = append([]string{"apply", "-f", seedWithDB(t), "--name", "kodo", "--runtime", "memory", "--store", db,
			"--allow-ephemeral-runtime", "--progress", "none"}, args...)
		code, _, errOut := cli(t, "", args...)
		if code != 2 {
			t.Errorf("%s: exit %d\n%s", name, code, errOut)
		}
		if name != "no template" && !strings.Contains(errOut, "unused input") {
			t.Errorf("%s: stderr lacks the unused input:\n%s", name, errOut)
		}
	}
	st, err := storeurl.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListProducts(context.Background(), store.ProductQuery{})
	if err != nil || page.Total != 0 {
		t.Errorf("refused applies registered products: %+v, %v", page, err)
	}
}
