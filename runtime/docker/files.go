package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// copyFiles places a service's rendered config files into a created
// container, before it starts, through the engine's archive API: no host
// path is involved. Files are mode 0600 and owned by the container's user
// (numeric users are set in the archive, named ones resolved by the
// engine); missing parent directories are created with mode 0755 and the
// same owner, existing ones are left as they are.
func (r *Runtime) copyFiles(ctx context.Context, id string, files map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	res, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	user := ""
	if res.Container.Config != nil {
		user = res.Container.Config.User
	}
	uid, gid, byName := parseUser(user)

	byDir := map[string][]string{}
	for p := range files {
		d := path.Dir(p)
		byDir[d] = append(byDir[d], p)
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, dir := range dirs {
		base, err := r.existingAncestor(ctx, id, dir)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		now := time.Now()
		// The directories between base and dir, outermost first.
		rel := strings.TrimPrefix(strings.TrimPrefix(dir, base), "/")
		if rel != "" {
			parts := strings.Split(rel, "/")
			for i := range parts {
				h := &tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i+1], "/") + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: now}
				if err := tw.WriteHeader(h); err != nil {
					return err
				}
			}
		}
		paths := byDir[dir]
		slices.Sort(paths)
		for _, p := range paths {
			name := strings.TrimPrefix(strings.TrimPrefix(p, base), "/")
			h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: int64(len(files[p])), Uid: uid, Gid: gid, ModTime: now}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(files[p]); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		_, err = r.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: base, Content: &b, CopyUIDGID: byName})
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
	}
	return nil
}

// existingAncestor returns dir or its nearest ancestor that exists in the
// container.
func (r *Runtime) existingAncestor(ctx context.Context, id, dir string) (string, error) {
	for d := dir; ; d = path.Dir(d) {
		if d == "/" {
			return d, nil
		}
		_, err := r.cli.ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: d})
		if err == nil {
			return d, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("stat %s: %w", d, err)
		}
	}
}

// parseUser reads a container's user: numeric "uid[:gid]" is used as is,
// empty means root, and a name is left to the engine (byName).
func parseUser(u string) (uid, gid int, byName bool) {
	if u == "" {
		return 0, 0, false
	}
	us, gs, hasGroup := strings.Cut(u, ":")
	uid, err := strconv.Atoi(us)
	if err != nil {
		return 0, 0, true
	}
	gid = uid
	if hasGroup {
		if gid, err = strconv.Atoi(gs); err != nil {
			return 0, 0, true
		}
	}
	return uid, gid, false
}

// copyProbe places the probe binary at /.stackwave/probe.
func (r *Runtime) copyProbe(ctx context.Context, id string) error {
	r.probeOnce.Do(func() {
		bin, err := os.ReadFile(r.opts.ProbeBinary)
		if err != nil {
			r.probeErr = err
			return
		}
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		now := time.Now()
		dir, file := path.Split(strings.TrimPrefix(probePath, "/"))
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: now})
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dir + file, Mode: 0o755, Size: int64(len(bin)), ModTime: now})
		_, _ = tw.Write(bin)
		r.probeErr = tw.Close()
		r.probeTar = b.Bytes()
	})
	if r.probeErr != nil {
		return fmt.Errorf("probe binary %s: %w", r.opts.ProbeBinary, r.probeErr)
	}
	_, err := r.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: bytes.NewReader(r.probeTar)})
	return err
}
