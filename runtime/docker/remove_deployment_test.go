package docker_test

import (
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// TestRemoveDeployment: the one-pass teardown removes the stacks it is
// told of and those it is not (a stray stack, a stopped one), keeps the
// data volumes unless DeleteData, and leaves no network; a second call
// on nothing is not an error.
func TestRemoveDeployment(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	svc := func(name string) stack.Service {
		return stack.Service{Name: name, UnitType: "1U1G", Image: img(t),
			VolumeArgs: []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}}
	}
	db, app, stray := stackSpec("rd", "db", 0, svc("pg")), stackSpec("rd", "app", 1, svc("api")), stackSpec("rd", "old", 0, svc("x"))
	for _, s := range []*runtime.StackSpec{db, app, stray} {
		must(t, rt.Apply(ctx, s, nil))
	}
	must(t, rt.Stop(ctx, db.Ref()))

	must(t, rt.RemoveDeployment(ctx, "rd", [][]string{{"db"}, {"app"}}, runtime.RemoveOptions{GracePeriod: time.Second}))
	st, err := rt.Observe(ctx, "rd")
	must(t, err)
	if len(st.Stacks) != 0 {
		t.Fatalf("after RemoveDeployment: %+v", st.Stacks)
	}
	vols, err := rt.Volumes(ctx, "rd")
	must(t, err)
	if len(vols) != 3 {
		t.Fatalf("kept volumes: want 3 (one per stack), got %+v", vols)
	}
	f := make(client.Filters).Add("label", docker.DefaultLabelPrefix+".namespace="+rt.Options().Namespace)
	nets, err := rt.Client().NetworkList(ctx, client.NetworkListOptions{Filters: f})
	must(t, err)
	if len(nets.Items) != 0 {
		t.Fatalf("networks left: %d", len(nets.Items))
	}
	all, err := rt.Client().VolumeList(ctx, client.VolumeListOptions{Filters: f})
	must(t, err)
	if len(all.Items) != 3 {
		t.Fatalf("volumes left with data kept: want the 3 data volumes (no stopped mark), got %d", len(all.Items))
	}

	must(t, rt.RemoveDeployment(ctx, "rd", nil, runtime.RemoveOptions{DeleteData: true}))
	all, err = rt.Client().VolumeList(ctx, client.VolumeListOptions{Filters: f})
	must(t, err)
	if len(all.Items) != 0 {
		t.Fatalf("volumes left after DeleteData: %d", len(all.Items))
	}
	must(t, rt.RemoveDeployment(ctx, "rd", nil, runtime.RemoveOptions{DeleteData: true}))
}
