// Command kube deploys a two-tier product onto a Kubernetes cluster with
// stackwave embedded: a namespace for the deployment, a Deployment and a
// Service per service, an Ingress for the domain access point, config
// files in a ConfigMap, readiness from watches. It uses the cluster and
// context that KUBECONFIG (or ~/.kube/config) names.
//
//	go run ./examples/kube                 # launch, show endpoints, tear down
//	go run ./examples/kube -image nginx:1.27 -keep
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

func main() {
	image := flag.String("image", "nginx:1.27", "image of every service")
	keep := flag.Bool("keep", false, "leave the deployment running")
	flag.Parse()
	if err := run(context.Background(), *image, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "kube example:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, image string, keep bool) error {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	rt, err := kube.New(cfg, &kube.Options{BaseDomain: "example.test"})
	if err != nil {
		return err
	}
	defer rt.Close()

	name, tag, _ := strings.Cut(image, ":")
	img := stack.Image{Name: name, Tag: tag}
	deps := stack.Deps{
		{{Name: "cache", Services: []stack.Service{{
			Name: "redis", UnitType: "1U1G", Image: img,
			AccessPoints: []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{6379}}},
		}}}},
		{{Name: "web", Services: []stack.Service{{
			Name: "frontend", UnitType: "1U2G", Image: img, Instances: 2,
			AccessPoints: []stack.AccessPoint{{Type: stack.AccessDomain, BackendPorts: []int{80}}},
			ConfigPaths:  []string{"/etc/frontend/cache.conf"},
			Readiness:    &stack.Probe{Type: stack.ProbeHTTP, Port: 80, Path: "/"},
		}}}},
	}

	st := memory.New(nil)
	ex := deploy.New(rt, st, &deploy.Options{OnEvent: func(e deploy.Event) {
		if e.Service == "" {
			fmt.Println(e)
		}
	}})
	defer ex.Close()
	reg, err := st.Register(ctx, &product.Document{Name: "kube-example", ProviderName: "example", StackDeps: deps}, nil)
	if err != nil {
		return err
	}
	v := reg.Version
	_, err = ex.Launch(ctx, deploy.Request{
		Deployment: "kube-example", VersionID: v.ID, Policy: deploy.Rollback,
		// On Kubernetes, addr resolves to the cache's Service.
		ConfigTemplates: map[string]string{"/etc/frontend/cache.conf": "redis {{addr \"cache\" \"redis\"}}\n"},
	})
	if err != nil {
		return err
	}
	status, err := ex.Status(ctx, "kube-example")
	if err != nil {
		return err
	}
	for _, s := range status.Stacks {
		for _, svc := range s.Services {
			fmt.Printf("%s/%s: %d/%d ready\n", s.Name, svc.Name, svc.Ready, svc.Desired)
			for _, ep := range svc.Endpoints {
				fmt.Printf("  %s %s/%d: internal %s host %s\n", ep.Type, ep.Proto, ep.BackendPort, ep.Internal, ep.Host)
			}
		}
	}
	if keep {
		fmt.Println("left running: kubectl get all -n", rt.Namespace("kube-example"))
		return nil
	}
	_, err = ex.Terminate(ctx, deploy.Request{Deployment: "kube-example", DeleteData: true})
	return err
}
