// Command embed shows stackwave embedded in a Go program: a product
// document decoded and validated, catalogued in a store, launched, updated
// and terminated by the executor on a runtime. It runs on the in-memory
// store and the simulated runtime, so it needs neither Docker nor
// Kubernetes; swap in store/sqlite and runtime/docker (see ../docker) for
// real containers.
//
//	go run ./examples/embed
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/validate"
)

const document = `{"product_name": "shop",
 "stack_deps": [
   [ {"stack_name": "db", "services": [ {"service_name": "postgres", "unit_type": "2U4G",
        "image": {"name": "postgres", "tag": "17"},
        "envs": {"POSTGRES_PASSWORD": "s3cret-pass"},
        "access_point": {"type": "internal_ip", "backend_ports": [5432]},
        "volume_args": [{"mount_path": "/var/lib/postgresql/data", "unit_type": "SSD1_20G"}] } ] } ],
   [ {"stack_name": "api", "services": [ {"service_name": "server", "unit_type": "1U2G",
        "image": {"name": "shop/api", "tag": "1.0"}, "instances": 2,
        "access_point": {"type": "domain", "backend_ports": [8080]},
        "config_paths": ["/etc/shop/api.conf"] } ] },
     {"stack_name": "worker", "services": [ {"service_name": "jobs", "unit_type": "1U1G",
        "image": {"name": "shop/worker", "tag": "1.0"} } ] } ] ] }`

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// Decode and validate: two kinds of errors, told apart with errors.Is.
	doc, err := product.Decode([]byte(document))
	if err != nil {
		return err // matches product.ErrInvalidArgs
	}
	if err := validate.Document(doc, nil); err != nil {
		return err // matches validate.ErrInvalid, lists every field problem
	}

	st := memory.New(nil)
	rt := sim.New(nil)
	ex := deploy.New(rt, st, nil)
	defer ex.Close()

	// The product and its first version are registered in one write.
	doc.VersionName = "1.0"
	reg, err := st.Register(ctx, doc, &store.RegisterOptions{ProviderName: "example"})
	if err != nil {
		return err
	}
	p, v1 := reg.Product, reg.Version
	templates := map[string]string{"/etc/shop/api.conf": "database = {{addr \"db\" \"postgres\"}}\n"}

	// A launch whose worker crashes: the Rollback policy undoes it.
	rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Stack: "worker", ExitCode: 2, Nth: 1})
	res, err := ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: v1.ID, Policy: deploy.Rollback, ConfigTemplates: templates})
	var se *runtime.ServiceError
	fmt.Fprintf(out, "first launch: %s; worker failed: %v (exit code %d); secret shown: %v\n",
		res.Deployment.Status, errors.Is(err, runtime.ErrFailed), exitCode(err, &se), strings.Contains(fmt.Sprint(err), "s3cret"))

	// Launch again; this time everything comes up.
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: v1.ID, ConfigTemplates: templates}); err != nil {
		return err
	}
	status, err := ex.Status(ctx, "shop")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "second launch: %s, %s\n", status.Status, status.Health)
	for _, s := range status.Stacks {
		for _, svc := range s.Services {
			fmt.Fprintf(out, "  tier %d %s/%s: %d/%d ready\n", s.Tier, s.Name, svc.Name, svc.Ready, svc.Desired)
		}
	}

	// Update the api to 1.1: only that stack changes.
	next := doc.StackDeps
	next[1][0].Services[0].Image.Tag = "1.1"
	v2, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "1.1", Active: true, StackDeps: next})
	if err != nil {
		return err
	}
	preview, err := ex.Preview(ctx, "shop", v2.ID)
	if err != nil {
		return err
	}
	fmt.Fprint(out, "update preview: ", preview)
	if _, err := ex.Update(ctx, deploy.Request{Deployment: "shop", VersionID: v2.ID}); err != nil {
		return err
	}

	// Terminate, keeping the database volume.
	res, err = ex.Terminate(ctx, deploy.Request{Deployment: "shop"})
	if err != nil {
		return err
	}
	vols, err := rt.Volumes(ctx, "shop")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "terminated: %s, %d volume kept\n", res.Deployment.Status, len(vols))
	return nil
}

func exitCode(err error, se **runtime.ServiceError) int {
	if errors.As(err, se) {
		return (*se).ExitCode
	}
	return 0
}
