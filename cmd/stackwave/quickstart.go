package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/internal/imagebuild"
)

//go:embed quickstart/product.json
var quickstartProduct string

//go:embed quickstart/qboxauthproxy.conf
var quickstartTemplate string

// The demo image: the test program of internal/testapp, built from this
// repository's source into a FROM scratch image.
const (
	demoRepository = "stackwave-demo"
	demoConfigPath = "/authproxy_in/qboxauthproxy.conf"
)

// runQuickstart builds the demo image (on Docker), applies a
// kodo-double-shaped product, and shows where its endpoints answer.
func quickstartCmd(fs *flag.FlagSet, env *cliEnv) runner {
	name := fs.String("name", "quickstart", "deployment name")
	output := fs.String("progress", "auto", "progress display: auto, live, plain, none")
	policy := fs.String("policy", "fail-fast", "failure policy: fail-fast, continue or rollback")
	backends := addBackendFlags(fs)
	addFaultFlag(fs, backends)
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "quickstart", args, 0, ""); !ok {
			return code
		}
		if len(backends.faults) > 0 && backends.runtime != runtimeMemory {
			env.errorf("quickstart: %v", errFaultsNeedMemory)
			return exitUsage
		}
		ctx, cancel := signalContext()
		defer cancel()

		image := demoRepository + ":latest"
		if backends.runtime != runtimeMemory {
			ref, err := buildDemoImage(ctx, env)
			if err != nil {
				env.errorf("quickstart: %v", err)
				if backends.runtime == runtimeAuto {
					env.errorf("quickstart: without Docker, try: stackwave quickstart --runtime memory")
				}
				return codeOf(err)
			}
			image = ref
		}
		dir, err := os.MkdirTemp("", "stackwave-quickstart-")
		if err != nil {
			env.errorf("quickstart: %v", err)
			return codeOf(err)
		}
		defer os.RemoveAll(dir)
		imgName, imgTag, _ := strings.Cut(image, ":")
		doc := strings.NewReplacer("IMAGE_NAME", imgName, "IMAGE_TAG", imgTag).Replace(quickstartProduct)
		docFile := filepath.Join(dir, "product.json")
		tplFile := filepath.Join(dir, "qboxauthproxy.conf")
		if err := os.WriteFile(docFile, []byte(doc), 0o600); err != nil {
			env.errorf("quickstart: %v", err)
			return codeOf(err)
		}
		if err := os.WriteFile(tplFile, []byte(quickstartTemplate), 0o600); err != nil {
			env.errorf("quickstart: %v", err)
			return codeOf(err)
		}

		applyArgs := []string{"-f", docFile, "--name", *name, "--config", demoConfigPath + "=" + tplFile,
			"--progress", *output, "--policy", *policy}
		applyArgs = append(applyArgs, backends.args()...)
		for _, f := range backends.faults {
			applyArgs = append(applyArgs, "--fault", f)
		}
		// On the simulated runtime the deployment lives in this process: show
		// the status from within apply, there is nothing to call afterwards.
		if code := runEnv(append([]string{"apply"}, applyArgs...), env); code != exitOK {
			return code
		}
		if backends.runtime == runtimeMemory {
			fmt.Fprintln(env.stdout, "\nThe simulated runtime ran this in memory; run it on Docker with: stackwave quickstart")
			return exitOK
		}
		return checkEndpoints(ctx, backends, *name, env)
	}
}

// buildDemoImage builds the demo image from source when it is missing.
func buildDemoImage(ctx context.Context, env *cliEnv) (string, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return "", fmt.Errorf("docker: %w", err)
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
		return "", fmt.Errorf("the Docker engine is not reachable (DOCKER_HOST): %w", err)
	}
	opts := imagebuild.TestAppOptions()
	opts.Repository = demoRepository
	fmt.Fprintf(env.stderr, "building the demo image %s from %s (only when its source changed)...\n", demoRepository, opts.Package)
	img, err := imagebuild.Ensure(ctx, cli, opts)
	if err != nil {
		return "", fmt.Errorf("build the demo image: %w", err)
	}
	if img.Built {
		fmt.Fprintf(env.stderr, "built %s\n", img.Ref)
	}
	return img.Ref, nil
}

// checkEndpoints asks every published endpoint of the deployment for its
// page and config file, and says what answered.
func checkEndpoints(ctx context.Context, backends *backendFlags, name string, env *cliEnv) int {
	ex, closeAll, err := openExecutor(ctx, backends, nil)
	if err != nil {
		env.errorf("quickstart: %v", err)
		return codeOf(err)
	}
	defer closeAll()
	st, err := ex.Status(ctx, name)
	if err != nil {
		env.errorf("quickstart: %v", err)
		return codeOf(err)
	}
	fmt.Fprintln(env.stdout, "\nendpoints:")
	hc := &http.Client{Timeout: 5 * time.Second}
	failed := false
	for _, s := range st.Stacks {
		for _, svc := range s.Services {
			for _, ep := range svc.Endpoints {
				if ep.Address == "" {
					continue
				}
				base := "http://" + ep.Address
				page, err := get(ctx, hc, base+"/")
				if err != nil {
					failed = true
					fmt.Fprintf(env.stdout, "  %s/%s %s: %v\n", s.Name, svc.Name, base, err)
					continue
				}
				var compact bytes.Buffer
				if json.Compact(&compact, []byte(page)) == nil {
					page = compact.String()
				}
				fmt.Fprintf(env.stdout, "  %s/%s answers at %s (host %s): %s\n", s.Name, svc.Name, base, ep.Host, strings.TrimSpace(page))
				if conf, err := get(ctx, hc, base+"/file?path="+demoConfigPath); err == nil {
					fmt.Fprintf(env.stdout, "    its %s:\n      %s\n", demoConfigPath, strings.ReplaceAll(strings.TrimSpace(conf), "\n", "\n      "))
				}
			}
		}
	}
	fmt.Fprintln(env.stdout, "\n"+quickstartHint(name, backends))
	if failed {
		return exitFailed
	}
	return exitOK
}

func get(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4096))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", res.Status, bytes.TrimSpace(b))
	}
	return string(b), nil
}

// quickstartHint is the closing line of quickstart. It carries the flags
// that name the store and runtime: without them the commands it shows
// would look elsewhere.
func quickstartHint(name string, b *backendFlags) string {
	flags := strings.Join(append([]string{""}, b.args()...), " ")
	return fmt.Sprintf("status: stackwave status %s%s; remove it: stackwave destroy %s --delete-data%s", name, flags, name, flags)
}
