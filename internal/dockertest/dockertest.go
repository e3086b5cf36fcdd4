// Package dockertest gives tests a Docker Engine client and the test
// application image (see internal/testapp), with containers that are
// labelled and removed when the test ends.
//
// The engine is found from the environment (DOCKER_HOST etc.) or the default
// local socket. These helpers never skip: when the engine cannot be reached
// or the image cannot be built, the test fails and says why.
//
//	func TestSomething(t *testing.T) {
//		cli := dockertest.Client(t)
//		ref := dockertest.TestApp(t)
//		id := dockertest.Start(t, cli, client.ContainerCreateOptions{
//			Config: &container.Config{Image: ref, Env: []string{"TESTAPP_HTTP=8080"}},
//		})
//		...
//	}
package dockertest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/internal/imagebuild"
)

// LabelTest is set on every container made through Start (value "1"), and
// LabelTestName to the test's name, so leftovers can be found and removed
// with a label filter.
const (
	LabelTest     = "org.stackwave.test"
	LabelTestName = "org.stackwave.test.name"
)

// Client connects to the Docker Engine and checks that it answers. The
// client is closed when the test ends.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatalf("dockertest: cannot make a Docker client from the environment (%s): %v", describeHost(), err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatalf("dockertest: the Docker Engine at %s is unreachable: %v\n"+
			"These tests need a running Docker Engine; they do not skip. Start dockerd or point DOCKER_HOST at one.", describeHost(), err)
	}
	return cli
}

func describeHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return "DOCKER_HOST=" + h
	}
	return client.DefaultDockerHost + " (DOCKER_HOST unset)"
}

var testApp struct {
	sync.Mutex
	img imagebuild.Image
	err error
	log string
}

// TestApp returns the reference of the test application image
// (stackwave-testapp:HASH), building it on first use in this process if
// the engine lacks it. Later calls in the same process reuse the answer.
func TestApp(t testing.TB) string {
	t.Helper()
	return TestAppImage(t).Ref
}

// TestAppImage is TestApp with the image's ID, tags and hash.
func TestAppImage(t testing.TB) imagebuild.Image {
	t.Helper()
	cli := Client(t)
	testApp.Lock()
	defer testApp.Unlock()
	if testApp.img.Ref == "" && testApp.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		var log bytes.Buffer
		opts := imagebuild.TestAppOptions()
		opts.Log = &log
		start := time.Now()
		testApp.img, testApp.err = imagebuild.Ensure(ctx, cli, opts)
		testApp.log = log.String()
		if testApp.err == nil {
			how := "reused"
			if testApp.img.Built {
				how = "built"
			}
			t.Logf("dockertest: %s test image %s in %s", how, testApp.img.Ref, time.Since(start).Round(time.Millisecond))
		}
	}
	if testApp.err != nil {
		t.Fatalf("dockertest: cannot make the test application image: %v\nbuild output:\n%s", testApp.err, testApp.log)
	}
	return testApp.img
}

// Labels are the labels Start puts on a container of test t.
func Labels(t testing.TB) map[string]string {
	return map[string]string{LabelTest: "1", LabelTestName: t.Name()}
}

// Start creates and starts a container, labelled with Labels(t) on top of
// the ones in opts.Config, and force-removes it (with its anonymous
// volumes) when the test ends. It returns the container ID.
func Start(t testing.TB, cli *client.Client, opts client.ContainerCreateOptions) string {
	t.Helper()
	id := Create(t, cli, opts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("dockertest: starting container %.12s: %v", id, err)
	}
	return id
}

// Create is Start without starting the container.
func Create(t testing.TB, cli *client.Client, opts client.ContainerCreateOptions) string {
	t.Helper()
	var cfg container.Config
	if opts.Config != nil {
		cfg = *opts.Config
	}
	cfg.Labels = map[string]string{}
	if opts.Config != nil {
		maps.Copy(cfg.Labels, opts.Config.Labels)
	}
	maps.Copy(cfg.Labels, Labels(t))
	opts.Config = &cfg
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := cli.ContainerCreate(ctx, opts)
	if err != nil {
		t.Fatalf("dockertest: creating container from %s: %v", cmp.Or(opts.Image, cfg.Image), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := cli.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("dockertest: removing container %.12s: %v", res.ID, err)
		}
	})
	return res.ID
}

// Logs returns a container's stdout and stderr so far, demultiplexed
// (containers without a TTY).
func Logs(t testing.TB, cli *client.Client, id string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("dockertest: logs of %.12s: %v", id, err)
	}
	defer rc.Close()
	var o, e bytes.Buffer
	if _, err := stdcopy.StdCopy(&o, &e, rc); err != nil && err != io.EOF {
		t.Fatalf("dockertest: reading logs of %.12s: %v", id, err)
	}
	return o.String(), e.String()
}

// Wait waits for a container to stop and returns its exit code.
func Wait(t testing.TB, cli *client.Client, id string, timeout time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{})
	select {
	case r := <-res.Result:
		if r.Error != nil && r.Error.Message != "" {
			t.Fatalf("dockertest: waiting for %.12s: %s", id, r.Error.Message)
		}
		return int(r.StatusCode)
	case err := <-res.Error:
		out, errOut := Logs(t, cli, id)
		t.Fatalf("dockertest: waiting for %.12s: %v\nstdout:\n%s\nstderr:\n%s", id, err, out, errOut)
	}
	panic(fmt.Sprintf("unreachable: %s", id))
}

// Exec runs cmd in a running container, as a readiness probe would, and
// returns its exit code and combined output.
func Exec(t testing.TB, cli *client.Client, id string, cmd ...string) (code int, output string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex, err := cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("dockertest: exec %q in %.12s: %v", cmd, id, err)
	}
	att, err := cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("dockertest: attaching to exec %q in %.12s: %v", cmd, id, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		t.Fatalf("dockertest: reading exec %q output: %v", cmd, err)
	}
	// The exit code is recorded just after the output stream ends.
	for {
		res, err := cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			t.Fatalf("dockertest: inspecting exec %q: %v", cmd, err)
		}
		if !res.Running {
			return res.ExitCode, out.String()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dockertest: exec %q still running: %v", cmd, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
