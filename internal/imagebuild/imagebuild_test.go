package imagebuild_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/internal/imagebuild"
)

// testRepository holds the images these tests build on purpose; they are
// removed when the tests end.
const testRepository = "stackwave-imagebuild-test"

func removeImage(t *testing.T, cli *client.Client, id string) {
	t.Cleanup(func() {
		_, err := cli.ImageRemove(context.Background(), id, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		if err != nil {
			t.Errorf("removing image %s: %v", id, err)
		}
	})
}

func TestEnsureTestAppReusesImage(t *testing.T) {
	cli := dockertest.Client(t)
	ctx := context.Background()
	start := time.Now()
	first, err := imagebuild.Ensure(ctx, cli, imagebuild.TestAppOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first Ensure: built=%v in %s", first.Built, time.Since(start))
	if !strings.HasPrefix(first.Ref, "stackwave-testapp:") || len(first.Ref) != len("stackwave-testapp:")+12 || !strings.HasPrefix(first.Hash, strings.TrimPrefix(first.Ref, "stackwave-testapp:")) {
		t.Fatalf("ref %q hash %q", first.Ref, first.Hash)
	}

	start = time.Now()
	second, err := imagebuild.Ensure(ctx, cli, imagebuild.TestAppOptions())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second Ensure: built=%v in %s", second.Built, took)
	if second.Built || second.ID != first.ID || second.Ref != first.Ref {
		t.Fatalf("second Ensure rebuilt or changed the image: %+v then %+v", first, second)
	}
	// Built false says it did not build; the time only catches a build
	// that went unreported, however loaded the machine.
	if took > 2*time.Minute {
		t.Fatalf("second Ensure took %s; it should only hash and inspect", took)
	}
	ref, err := imagebuild.EnsureTestApp(ctx, cli)
	if err != nil || ref != first.Ref {
		t.Fatalf("EnsureTestApp = %q, %v; want %q", ref, err, first.Ref)
	}

	latest, err := cli.ImageInspect(ctx, "stackwave-testapp:latest")
	if err != nil || latest.ID != first.ID {
		t.Fatalf("latest tag: %v %v", latest.ID, err)
	}
	if latest.Config.Labels[imagebuild.LabelHash] != first.Hash || !strings.Contains(strings.Join(latest.Config.Entrypoint, " "), "/testapp") {
		t.Fatalf("image config: %+v", latest.Config)
	}
}

func TestBuildWithOptions(t *testing.T) {
	cli := dockertest.Client(t)
	ctx := context.Background()
	opts := imagebuild.TestAppOptions()
	opts.Repository = testRepository
	opts.ExtraTags = []string{}
	opts.Cmd = []string{"exit", "5", "from the image's CMD"}
	opts.User = "65534:65534"
	opts.Labels = map[string]string{"org.stackwave.test": "1"}
	img, err := imagebuild.Build(ctx, cli, opts)
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, cli, img.ID)
	if !img.Built || len(img.Tags) != 1 || img.Tags[0] != img.Ref || !strings.HasPrefix(img.Ref, testRepository+":") {
		t.Fatalf("%+v", img)
	}
	info, err := cli.ImageInspect(ctx, img.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.User != "65534:65534" || info.Config.Labels["org.stackwave.test"] != "1" || info.Config.Labels[imagebuild.LabelPackage] != imagebuild.TestAppPackage {
		t.Fatalf("image config: %+v", info.Config)
	}

	id := dockertest.Start(t, cli, client.ContainerCreateOptions{Config: &container.Config{Image: img.Ref}})
	if code := dockertest.Wait(t, cli, id, 3*time.Minute); code != 5 {
		t.Fatalf("exit code %d, want 5 from the image's CMD", code)
	}
	if out, _ := dockertest.Logs(t, cli, id); !strings.Contains(out, "from the image's CMD") {
		t.Fatalf("logs:\n%s", out)
	}
}

// TestEnsureFollowsSource builds a throwaway module: a changed program must
// get a new image, an unchanged one must be reused.
func TestEnsureFollowsSource(t *testing.T) {
	cli := dockertest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/hello\n\ngo 1.26\n")
	write("main.go", "package main\n\nimport \"os\"\n\nfunc main() { os.Exit(7) }\n")
	opts := imagebuild.Options{Package: "example.com/hello", Repository: testRepository, ExtraTags: []string{}, Dir: dir}

	run := func(ref string) int {
		id := dockertest.Start(t, cli, client.ContainerCreateOptions{Config: &container.Config{Image: ref}})
		return dockertest.Wait(t, cli, id, 3*time.Minute)
	}

	v1, err := imagebuild.Ensure(ctx, cli, opts)
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, cli, v1.ID)
	if code := run(v1.Ref); code != 7 {
		t.Fatalf("v1 exit %d", code)
	}
	again, err := imagebuild.Ensure(ctx, cli, opts)
	if err != nil || again.Built || again.ID != v1.ID {
		t.Fatalf("unchanged source: %+v %v", again, err)
	}

	write("main.go", "package main\n\nimport \"os\"\n\nfunc main() { os.Exit(8) }\n")
	v2, err := imagebuild.Ensure(ctx, cli, opts)
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, cli, v2.ID)
	if !v2.Built || v2.Ref == v1.Ref || v2.ID == v1.ID {
		t.Fatalf("changed source kept the image: %+v then %+v", v1, v2)
	}
	if code := run(v2.Ref); code != 8 {
		t.Fatalf("v2 exit %d", code)
	}
}

func TestNotAMainPackage(t *testing.T) {
	cli := dockertest.Client(t)
	_, err := imagebuild.Ensure(context.Background(), cli, imagebuild.Options{
		Package:    "github.com/stackwave/stackwave/internal/imagebuild",
		Repository: testRepository,
	})
	if err == nil || !strings.Contains(err.Error(), "not a main package") {
		t.Fatalf("err = %v", err)
	}
	_, err = imagebuild.Ensure(context.Background(), cli, imagebuild.Options{
		Package:    "github.com/stackwave/stackwave/internal/nosuchpackage",
		Repository: testRepository,
	})
	if err == nil {
		t.Fatal("missing package: want error")
	}
	t.Logf("missing package error: %v", err)
}
