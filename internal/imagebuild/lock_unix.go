//go:build unix

package imagebuild

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lockBuild takes a machine-wide lock for building images of repo, so
// parallel test binaries wait for one build instead of each running one.
func lockBuild(repo string) (unlock func(), err error) {
	name := "stackwave-imagebuild-" + strings.NewReplacer("/", "_", ":", "_").Replace(repo) + ".lock"
	path := filepath.Join(os.TempDir(), name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: opening lock %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("imagebuild: locking %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
