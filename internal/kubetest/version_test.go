package kubetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestVersionsMatchToolsModules keeps the Go constants, the tools modules
// and build.sh in step, so Start looks for binaries where build.sh puts
// them.
func TestVersionsMatchToolsModules(t *testing.T) {
	for _, c := range []struct{ dir, module, version string }{
		{"kube", "k8s.io/kubernetes", KubernetesVersion},
		{"etcd", "go.etcd.io/etcd/server/v3", EtcdVersion},
		{"kwok", "sigs.k8s.io/kwok", KwokVersion},
	} {
		b, err := os.ReadFile(filepath.Join("tools", c.dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(?m)^(?:require\s+|\s+)` + regexp.QuoteMeta(c.module) + `\s+(\S+)`)
		m := re.FindSubmatch(b)
		if m == nil || string(m[1]) != c.version {
			t.Errorf("tools/%s/go.mod requires %s %q, the package says %s", c.dir, c.module, m, c.version)
		}
	}

	script, err := os.ReadFile("build.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^revision=(\d+)$`).FindSubmatch(script)
	if m == nil || string(m[1]) != strconv.Itoa(buildRevision) {
		t.Errorf("build.sh revision %q, buildRevision is %d", m, buildRevision)
	}
}

func TestBuildScriptAgreesOnBinDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	for _, override := range []string{"", t.TempDir()} {
		t.Setenv(EnvBinDir, override)
		want, err := BinDir()
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("bash", "build.sh", "--print-dir").CombinedOutput()
		if err != nil {
			t.Fatalf("build.sh --print-dir: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s=%q: build.sh uses %s, BinDir() is %s", EnvBinDir, override, got, want)
		}
	}
}

func TestTailLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
	} {
		if got := tailLines([]byte(c.in), c.n); got != c.want {
			t.Errorf("tailLines(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
