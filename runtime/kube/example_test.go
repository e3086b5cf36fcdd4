package kube_test

import (
	"context"
	"log"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/store/memory"
)

// A control plane that deploys onto the cluster of the local kubeconfig,
// each deployment in a namespace of its own, domain access points under
// apps.example.com behind the nginx ingress class, and SSD1 volumes on the
// cluster's "premium-rwo" storage class.
func Example() {
	cfg, err := clientcmd.BuildConfigFromFlags("", clientcmd.RecommendedHomeFile)
	if err != nil {
		log.Fatal(err)
	}
	rt, err := kube.New(cfg, &kube.Options{
		BaseDomain:       "apps.example.com",
		IngressClassName: "nginx",
		StorageClasses:   map[string]string{"SSD1": "premium-rwo"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	// Applies are short requests: with no Concurrency of its own, the
	// executor takes the runtime's hint and lets a wide tier have 64 in
	// flight.
	ex := deploy.New(rt, memory.New(nil), nil)
	defer ex.Close()

	st, err := rt.Observe(context.Background(), "kodo")
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("kodo: %s, %d stacks", st.Status(), len(st.Stacks))
}
