// Package imagebuild turns a Go main package of this module into a small
// container image, through the Docker Engine API alone: no docker CLI, no
// registry, no base image.
//
// The package is compiled by the local go command as a static Linux binary
// (CGO_ENABLED=0, GOOS=linux, GOARCH of the engine, -trimpath -ldflags="-s -w"
// -buildvcs=false). A build context made in memory holds that binary and a
// generated Dockerfile:
//
//	FROM scratch
//	COPY app /app
//	ENTRYPOINT ["/app"]
//	LABEL "org.stackwave.imagebuild.hash"="..." "org.stackwave.imagebuild.package"="..."
//
// and is sent to the engine's build endpoint with the classic builder, which
// needs nothing from outside since the base is scratch.
//
// Images are tagged REPOSITORY:HASH, where HASH is the first 12 hex digits of
// a SHA-256 over everything that decides the image: the Go files (and
// embedded files) of the package and of every non-standard package it
// imports, the Go version, the target platform, the generated Dockerfile and
// the labels. [Ensure] builds only when that tag is missing, so a changed
// program gets a new image and an unchanged one is never rebuilt; extra tags
// (by default "latest") are moved to the image it returns.
//
// The image runs as root unless Options.User says otherwise: files copied
// into a container keep the owner and mode from their archive and volumes
// the engine creates are owned by root, so a non-root program could fail to
// read its configuration or write to its volumes.
package imagebuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Options describes an image made of one Go main package.
type Options struct {
	// Package is the import path of the main package, e.g.
	// "github.com/stackwave/stackwave/internal/testapp". A path starting
	// with "./" is relative to Dir.
	Package string
	// Repository is the image name without a tag, e.g. "stackwave-testapp".
	Repository string
	// ExtraTags are tags put on the image beside the content tag. Nil means
	// {"latest"}; an empty non-nil slice means none.
	ExtraTags []string
	// Binary is the file name of the program in the image root. Default:
	// the last element of Package.
	Binary string
	// Entrypoint and Cmd of the image. Entrypoint defaults to ["/"+Binary].
	Entrypoint []string
	Cmd        []string
	// User the image runs as; empty means root (see the package comment).
	User string
	// Labels are set on the image, beside the ones this package adds.
	Labels map[string]string
	// Dir is where the go command runs. Default: the root of this module's
	// source tree when it can be found from this file's location, else the
	// current directory.
	Dir string
	// GoCommand is the go tool to use. Default: "go" from PATH.
	GoCommand string
	// Log receives the go build and image build output. May be nil.
	Log io.Writer
}

// Image is a built or reused image.
type Image struct {
	Ref   string   // REPOSITORY:HASH, the content tag
	ID    string   // image ID, "sha256:..."
	Tags  []string // every tag put on it: Ref first, then the extra tags
	Hash  string   // full hex content hash; Ref's tag is its first 12 digits
	Built bool     // false when Ensure found the image already there
}

// Labels this package puts on every image it builds.
const (
	LabelHash    = "org.stackwave.imagebuild.hash"
	LabelPackage = "org.stackwave.imagebuild.package"
)

// hashVersion changes whenever this package changes how it builds images,
// so images made the old way get a new tag.
const hashVersion = "stackwave-imagebuild/1"

// Ensure returns the image for opts, building it only when no image has its
// content tag yet. Concurrent calls from several processes on one machine
// build it once.
func Ensure(ctx context.Context, cli *client.Client, opts Options) (Image, error) {
	p, err := plan(ctx, cli, opts)
	if err != nil {
		return Image{}, err
	}
	if img, ok, err := p.existing(ctx, cli); err != nil || ok {
		return img, err
	}
	unlock, err := lockBuild(p.repo)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	// Another process may have built it while this one waited for the lock.
	if img, ok, err := p.existing(ctx, cli); err != nil || ok {
		return img, err
	}
	return p.build(ctx, cli)
}

// Build compiles the package and builds its image unconditionally.
func Build(ctx context.Context, cli *client.Client, opts Options) (Image, error) {
	p, err := plan(ctx, cli, opts)
	if err != nil {
		return Image{}, err
	}
	return p.build(ctx, cli)
}

// buildPlan is everything known about an image before it is built.
type buildPlan struct {
	opts       Options
	repo       string
	goos       string
	goarch     string
	dockerfile string
	hash       string
	ref        string
	extraTags  []string
	log        io.Writer
}

func plan(ctx context.Context, cli *client.Client, opts Options) (*buildPlan, error) {
	if opts.Package == "" {
		return nil, errors.New("imagebuild: Options.Package is required")
	}
	if opts.Repository == "" || opts.Repository != strings.ToLower(opts.Repository) || strings.ContainsAny(opts.Repository, ":@ ") {
		return nil, fmt.Errorf("imagebuild: Options.Repository %q must be a lower-case image name without tag", opts.Repository)
	}
	if opts.Binary == "" {
		opts.Binary = path.Base(opts.Package)
	}
	if opts.Binary == "." || opts.Binary == "/" || strings.ContainsAny(opts.Binary, "/\\ ") {
		return nil, fmt.Errorf("imagebuild: cannot derive a binary name from %q; set Options.Binary", opts.Package)
	}
	if opts.Entrypoint == nil {
		opts.Entrypoint = []string{"/" + opts.Binary}
	}
	if opts.ExtraTags == nil {
		opts.ExtraTags = []string{"latest"}
	}
	if opts.Dir == "" {
		opts.Dir = defaultDir()
	}
	if opts.GoCommand == "" {
		opts.GoCommand = "go"
	}
	p := &buildPlan{opts: opts, repo: opts.Repository, log: opts.Log}
	if p.log == nil {
		p.log = io.Discard
	}

	v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return nil, fmt.Errorf("imagebuild: asking the Docker engine for its platform: %w", err)
	}
	if v.Os != "linux" {
		return nil, fmt.Errorf("imagebuild: the Docker engine runs %s containers; only linux is supported", v.Os)
	}
	p.goos, p.goarch = v.Os, v.Arch

	df, err := dockerfile(opts)
	if err != nil {
		return nil, err
	}
	p.dockerfile = df

	goVersion, err := p.goOutput(ctx, "env", "GOVERSION")
	if err != nil {
		return nil, err
	}
	pkgs, err := p.listDeps(ctx)
	if err != nil {
		return nil, err
	}

	h := sha256.New()
	// The Dockerfile is hashed before the LABEL line that holds the hash.
	fmt.Fprintf(h, "%s\n%s\n%s/%s\n%s\n", hashVersion, strings.TrimSpace(goVersion), p.goos, p.goarch, df)
	for _, k := range slices.Sorted(maps.Keys(opts.Labels)) {
		fmt.Fprintf(h, "label %q=%q\n", k, opts.Labels[k])
	}
	for _, pkg := range pkgs {
		if err := hashPackage(h, pkg); err != nil {
			return nil, err
		}
	}
	p.hash = hex.EncodeToString(h.Sum(nil))
	p.ref = p.repo + ":" + p.hash[:12]
	for _, t := range opts.ExtraTags {
		p.extraTags = append(p.extraTags, p.repo+":"+t)
	}
	labels := map[string]string{LabelHash: p.hash, LabelPackage: opts.Package}
	maps.Copy(labels, opts.Labels)
	p.dockerfile += labelLine(labels)
	return p, nil
}

// dockerfile renders the Dockerfile of an image made of one binary.
func dockerfile(opts Options) (string, error) {
	ep, err := json.Marshal(opts.Entrypoint)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "FROM scratch\nCOPY %s /%s\n", opts.Binary, opts.Binary)
	if opts.User != "" {
		fmt.Fprintf(&b, "USER %s\n", opts.User)
	}
	fmt.Fprintf(&b, "ENTRYPOINT %s\n", ep)
	if opts.Cmd != nil {
		cmd, err := json.Marshal(opts.Cmd)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "CMD %s\n", cmd)
	}
	return b.String(), nil
}

// labelLine renders labels as one LABEL instruction: one build step,
// where labels passed to the build endpoint would each take a step.
func labelLine(labels map[string]string) string {
	var b strings.Builder
	b.WriteString("LABEL")
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, " %s=%s", strconv.Quote(k), strconv.Quote(labels[k]))
	}
	b.WriteString("\n")
	return b.String()
}

// goPackage is the part of `go list -json` output this package uses.
type goPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Standard   bool
	GoFiles    []string
	SFiles     []string
	HFiles     []string
	EmbedFiles []string
	Error      *struct{ Err string }
}

// listDeps lists the non-standard packages the binary is made of, sorted by
// import path, with the file lists of the target platform.
func (p *buildPlan) listDeps(ctx context.Context) ([]goPackage, error) {
	out, err := p.goOutput(ctx, "list", "-deps", "-json=ImportPath,Name,Dir,Standard,GoFiles,SFiles,HFiles,EmbedFiles,Error", "--", p.opts.Package)
	if err != nil {
		return nil, err
	}
	var pkgs []goPackage
	var main *goPackage
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var pkg goPackage
		if err := dec.Decode(&pkg); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("imagebuild: reading go list output: %w", err)
		}
		if pkg.Error != nil {
			return nil, fmt.Errorf("imagebuild: package %s: %s", pkg.ImportPath, pkg.Error.Err)
		}
		if pkg.Standard {
			continue
		}
		pkgs = append(pkgs, pkg)
	}
	if len(pkgs) > 0 {
		// go list -deps prints the named package last.
		main = &pkgs[len(pkgs)-1]
	}
	if main == nil || main.Name != "main" {
		return nil, fmt.Errorf("imagebuild: %s is not a main package of this module", p.opts.Package)
	}
	slices.SortFunc(pkgs, func(a, b goPackage) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	return pkgs, nil
}

// hashPackage adds a package's import path and source files to h. The
// directory is left out, so copies of the same source (other work trees,
// other machines) share images.
func hashPackage(h io.Writer, pkg goPackage) error {
	var files []string
	for _, list := range [][]string{pkg.GoFiles, pkg.SFiles, pkg.HFiles, pkg.EmbedFiles} {
		files = append(files, list...)
	}
	slices.Sort(files)
	files = slices.Compact(files)
	fmt.Fprintf(h, "package %s %d\n", pkg.ImportPath, len(files))
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(pkg.Dir, f))
		if err != nil {
			return fmt.Errorf("imagebuild: hashing %s: %w", pkg.ImportPath, err)
		}
		fmt.Fprintf(h, "file %q %d\n", filepath.ToSlash(f), len(b))
		h.Write(b)
	}
	return nil
}

// goOutput runs the go command for the target platform and returns stdout.
func (p *buildPlan) goOutput(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, p.opts.GoCommand, args...)
	cmd.Dir = p.opts.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.goos, "GOARCH="+p.goarch)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("imagebuild: %s %s (in %s): %w\n%s", p.opts.GoCommand, strings.Join(args, " "), p.opts.Dir, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// existing returns the image with the content tag, if there is one, after
// moving the extra tags to it.
func (p *buildPlan) existing(ctx context.Context, cli *client.Client) (Image, bool, error) {
	res, err := cli.ImageInspect(ctx, p.ref)
	if cerrdefs.IsNotFound(err) {
		return Image{}, false, nil
	}
	if err != nil {
		return Image{}, false, fmt.Errorf("imagebuild: inspecting %s: %w", p.ref, err)
	}
	if err := p.tagExtra(ctx, cli, res.ID); err != nil {
		return Image{}, false, err
	}
	return p.image(res.ID, false), true, nil
}

func (p *buildPlan) tagExtra(ctx context.Context, cli *client.Client, id string) error {
	for _, t := range p.extraTags {
		res, err := cli.ImageInspect(ctx, t)
		if err == nil && res.ID == id {
			continue
		}
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("imagebuild: inspecting %s: %w", t, err)
		}
		if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: t}); err != nil {
			return fmt.Errorf("imagebuild: tagging %s as %s: %w", id, t, err)
		}
	}
	return nil
}

func (p *buildPlan) image(id string, built bool) Image {
	return Image{
		Ref:   p.ref,
		ID:    id,
		Tags:  append([]string{p.ref}, p.extraTags...),
		Hash:  p.hash,
		Built: built,
	}
}

// build compiles the binary and builds, tags and inspects the image.
func (p *buildPlan) build(ctx context.Context, cli *client.Client) (Image, error) {
	tmp, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, p.opts.Binary)
	start := time.Now()
	fmt.Fprintf(p.log, "imagebuild: go build %s for %s/%s\n", p.opts.Package, p.goos, p.goarch)
	if _, err := p.goOutput(ctx, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, "--", p.opts.Package); err != nil {
		return Image{}, err
	}
	fmt.Fprintf(p.log, "imagebuild: go build took %s\n", time.Since(start).Round(time.Millisecond))

	buildCtx, err := p.context(bin)
	if err != nil {
		return Image{}, err
	}
	res, err := cli.ImageBuild(ctx, buildCtx, client.ImageBuildOptions{
		Tags:        []string{p.ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return Image{}, fmt.Errorf("imagebuild: building %s: %w", p.ref, err)
	}
	err = readBuildStream(res.Body, p.log)
	res.Body.Close()
	if err != nil {
		return Image{}, fmt.Errorf("imagebuild: building %s: %w", p.ref, err)
	}
	inspect, err := cli.ImageInspect(ctx, p.ref)
	if err != nil {
		return Image{}, fmt.Errorf("imagebuild: %s missing after its build: %w", p.ref, err)
	}
	if err := p.tagExtra(ctx, cli, inspect.ID); err != nil {
		return Image{}, err
	}
	fmt.Fprintf(p.log, "imagebuild: built %s (%s) in %s\n", p.ref, inspect.ID, time.Since(start).Round(time.Millisecond))
	return p.image(inspect.ID, true), nil
}

// context makes the tar build context: the Dockerfile and the binary, with
// fixed owners and times so equal inputs give equal archives.
func (p *buildPlan) context(bin string) (io.Reader, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(p.dockerfile)},
		{p.opts.Binary, 0o755, data},
	} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// buildMessage is one line of the build endpoint's JSON stream. The engine
// reports a failed step both in errorDetail and in the older "error" field.
type buildMessage struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

// BuildError is a build that the engine reported as failed.
type BuildError struct {
	Message string   // the engine's error
	Output  []string // the last lines of build output before it
}

func (e *BuildError) Error() string {
	if len(e.Output) == 0 {
		return e.Message
	}
	return e.Message + "\nlast build output:\n  " + strings.Join(e.Output, "\n  ")
}

// readBuildStream copies the build output to log and returns the error the
// stream reports, if any, as a *BuildError.
func readBuildStream(r io.Reader, log io.Writer) error {
	const keep = 20
	var tail []string
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var m buildMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading build output: %w", err)
		}
		if m.Error != nil || m.ErrorMessage != "" {
			msg := m.ErrorMessage
			if m.Error != nil && m.Error.Message != "" {
				msg = m.Error.Message
			}
			return &BuildError{Message: msg, Output: tail}
		}
		text := m.Stream
		if text == "" {
			text = m.Status
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		io.WriteString(log, text)
		if !strings.HasSuffix(text, "\n") {
			io.WriteString(log, "\n")
		}
		for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			tail = append(tail, line)
		}
		if len(tail) > keep {
			tail = tail[len(tail)-keep:]
		}
	}
}

// defaultDir is the module root this file belongs to, when the source tree
// is where it was compiled (tests, go run); else the working directory.
func defaultDir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	wd, _ := os.Getwd()
	return wd
}
