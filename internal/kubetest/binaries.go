package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Versions of the control-plane components. They must agree with the tools
// modules under tools/, which pin them for build.sh (a test checks this).
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.6.16"
	KwokVersion       = "v0.8.0"

	// buildRevision must equal "revision" in build.sh.
	buildRevision = 1
)

// EnvBinDir names the environment variable that overrides the directory
// holding the control-plane binaries (see BinDir).
const EnvBinDir = "STACKWAVE_KUBETEST_BIN"

// Names of the files build.sh puts into the binary directory.
const (
	binEtcd              = "etcd"
	binAPIServer         = "kube-apiserver"
	binControllerManager = "kube-controller-manager"
	binScheduler         = "kube-scheduler"
	binKwok              = "kwok"
	fileKwokStages       = "kwok-stages.yaml"
)

var binFiles = []string{binEtcd, binAPIServer, binControllerManager, binScheduler, binKwok, fileKwokStages}

// versionKey names the cache subdirectory for this set of versions; build.sh
// computes the same key from the tools modules.
func versionKey() string {
	return fmt.Sprintf("k8s-%s_etcd-%s_kwok-%s_%s-%s_r%d",
		KubernetesVersion, EtcdVersion, KwokVersion, runtime.GOOS, runtime.GOARCH, buildRevision)
}

// BinDir returns the directory the control-plane binaries are taken from:
// $STACKWAVE_KUBETEST_BIN if set, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/stackwave/kubetest/<version-key>.
func BinDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		return filepath.Abs(d)
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("kubetest: no cache directory (set %s or XDG_CACHE_HOME): %w", EnvBinDir, err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "stackwave", "kubetest", versionKey()), nil
}

func missingBinaries(dir string) []string {
	var missing []string
	for _, f := range binFiles {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.IsDir() || fi.Size() == 0 {
			missing = append(missing, f)
		}
	}
	return missing
}

// The outcome of preparing the binaries is kept for the life of the test
// binary: a failed build is not retried by every test.
var (
	binMu  sync.Mutex
	binDir string
	binErr error
)

// ensureBinaries returns the binary directory, running build.sh first when
// anything is missing from it.
func ensureBinaries() (string, error) {
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" || binErr != nil {
		return binDir, binErr
	}
	binDir, binErr = prepareBinaries()
	return binDir, binErr
}

func prepareBinaries() (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	missing := missingBinaries(dir)
	if len(missing) == 0 {
		return dir, nil
	}
	script, err := buildScript()
	if err != nil {
		return "", fmt.Errorf("%s is missing %s and build.sh was not found: %w",
			dir, strings.Join(missing, ", "), err)
	}
	fmt.Fprintf(os.Stderr, "kubetest: %s is missing %s; building with %s (first run only, takes several minutes)\n",
		dir, strings.Join(missing, ", "), script)
	var out bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), EnvBinDir+"="+dir)
	cmd.Stdout = io.MultiWriter(&out, os.Stderr)
	cmd.Stderr = cmd.Stdout
	started := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s failed after %s: %v\n--- build output (last lines) ---\n%s",
			script, time.Since(started).Round(time.Second), err, tailLines(out.Bytes(), 60))
	}
	if missing := missingBinaries(dir); len(missing) != 0 {
		return "", fmt.Errorf("%s succeeded but %s still lacks %s\n--- build output (last lines) ---\n%s",
			script, dir, strings.Join(missing, ", "), tailLines(out.Bytes(), 60))
	}
	return dir, nil
}

// buildScript locates build.sh next to this package's sources: from the
// compiled-in source path, or, when that was trimmed, through go list.
func buildScript() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		p := filepath.Join(filepath.Dir(file), "build.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	pkg := reflect.TypeFor[Env]().PkgPath()
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", pkg).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "build.sh")
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// tailLines returns at most the last n lines of b.
func tailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailFile returns at most the last n lines of the file at path, reading
// only its end.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const max = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		if _, err := f.Seek(fi.Size()-max, io.SeekStart); err != nil {
			return fmt.Sprintf("(cannot read %s: %v)", path, err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return tailLines(b, n)
}
