// Command docker deploys a two-tier product on the local Docker engine with
// stackwave embedded: a database tier, then two web stacks that reach it by
// its in-network name and publish HTTP on loopback. It builds its image
// from this repository's test program through the Docker API, so no
// registry is needed; use your own images in your programs.
//
//	go run ./examples/docker            # launch, show endpoints, tear down
//	go run ./examples/docker -keep      # leave it running
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/imagebuild"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

func main() {
	keep := flag.Bool("keep", false, "leave the deployment running")
	flag.Parse()
	if err := run(context.Background(), *keep); err != nil {
		fmt.Fprintln(os.Stderr, "docker example:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, keep bool) error {
	rt, err := docker.NewFromEnv(&docker.Options{HostIP: netip.MustParseAddr("127.0.0.1"), Namespace: "example"})
	if err != nil {
		return err
	}
	defer rt.Close()
	img, err := imagebuild.Ensure(ctx, rt.Client(), imagebuild.TestAppOptions())
	if err != nil {
		return fmt.Errorf("build the example image: %w", err)
	}
	name, tag, _ := strings.Cut(img.Ref, ":")
	image := stack.Image{Name: name, Tag: tag}

	web := func(stackName string) stack.Stack {
		return stack.Stack{Name: stackName, Services: []stack.Service{{
			Name: "http", UnitType: "1U1G", Image: image,
			Envs:         []string{"TESTAPP_HTTP=8080", "TESTAPP_SERVICE=" + stackName},
			AccessPoints: []stack.AccessPoint{{Type: stack.AccessDomain, BackendPorts: []int{8080}}},
			ConfigPaths:  []string{"/etc/web.conf"},
			Readiness: &stack.Probe{Type: stack.ProbeExec,
				Command: []string{"/testapp", "probe", "http", "http://127.0.0.1:8080/healthz"}, Period: stack.Duration(500 * time.Millisecond)},
		}}}
	}
	deps := stack.Deps{
		{{Name: "db", Services: []stack.Service{{
			Name: "store", UnitType: "1U1G", Image: image,
			Envs:         []string{"TESTAPP_TCP=5432", "TESTAPP_READY_AFTER=1s"},
			AccessPoints: []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{5432}}},
			VolumeArgs:   []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}},
			Readiness: &stack.Probe{Type: stack.ProbeExec,
				Command: []string{"/testapp", "probe", "tcp", "127.0.0.1:5432"}, Period: stack.Duration(500 * time.Millisecond)},
		}}}},
		{web("web-a"), web("web-b")},
	}

	st := memory.New(nil)
	ex := deploy.New(rt, st, &deploy.Options{OnEvent: func(e deploy.Event) {
		if e.Service == "" {
			fmt.Println(e)
		}
	}})
	defer ex.Close()
	reg, err := st.Register(ctx, &product.Document{Name: "docker-example", ProviderName: "example", StackDeps: deps}, nil)
	if err != nil {
		return err
	}
	v := reg.Version
	_, err = ex.Launch(ctx, deploy.Request{
		Deployment: "docker-example", VersionID: v.ID, Policy: deploy.Rollback,
		ConfigTemplates: map[string]string{"/etc/web.conf": "database {{addr \"db\" \"store\"}}\n"},
	})
	if err != nil {
		return err
	}
	status, err := ex.Status(ctx, "docker-example")
	if err != nil {
		return err
	}
	for _, s := range status.Stacks {
		for _, svc := range s.Services {
			for _, ep := range svc.Endpoints {
				if ep.Address == "" {
					fmt.Printf("%s/%s: %s inside the deployment\n", s.Name, svc.Name, ep.Internal)
					continue
				}
				conf, err := get(ctx, "http://"+ep.Address+"/file?path=/etc/web.conf")
				if err != nil {
					return err
				}
				fmt.Printf("%s/%s: http://%s (%s) serves its config: %s", s.Name, svc.Name, ep.Address, ep.Host, conf)
			}
		}
	}
	if keep {
		fmt.Println("left running: docker ps --filter label=org.stackwave.deployment=docker-example")
		return nil
	}
	_, err = ex.Terminate(ctx, deploy.Request{Deployment: "docker-example", DeleteData: true})
	return err
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}
