package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/internal/kubetest"
)

// TestApplyOnKubernetes drives the command line against a real control
// plane through KUBECONFIG: apply, status, destroy.
func TestApplyOnKubernetes(t *testing.T) {
	env := kubetest.Start(t, nil)
	t.Setenv("KUBECONFIG", env.Kubeconfig)
	db := "sqlite:" + filepath.Join(t.TempDir(), "sw.db")
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	// The test control plane has no volume provisioner: the seed without
	// its volume (runtime/kube's own tests bind volumes themselves).
	doc := strings.Replace(seed(t), `,
        "volume_args": [{"mount_path": "/var/lib/mysql", "unit_type": "SSD1_10G"}]`, `,
        "access_point": {"type": "internal_ip", "backend_ports": [3306]}`, 1)
	if doc == seed(t) {
		t.Fatal("the seed's volume_args moved: update this test")
	}
	code, out, errOut := cli(t, "", "apply", "-f", writeFile(t, "seed.json", doc), "--name", "kodo", "--runtime", "kube", "--store", db,
		"--config", "/authproxy_in/qboxauthproxy.conf="+tpl, "--progress", "plain")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "deployment kodo: Available, health running, sync in-sync") {
		t.Fatalf("apply output:\n%s", out)
	}
	code, out, errOut = cli(t, "", "status", "kodo", "--runtime", "kube", "--store", db)
	if code != 0 || !strings.Contains(out, "authproxy-in         running") {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = cli(t, "", "destroy", "kodo", "--runtime", "kube", "--store", db, "--progress", "none")
	if code != 0 || out != "kodo terminated (volumes kept)\n" {
		t.Fatalf("destroy: exit %d\n%s\n%s", code, out, errOut)
	}
}
