package runtimetest_test

import (
	"context"
	"strconv"

	"github.com/stackwave/stackwave/runtime"
)

func init() {
	mutants["deployment-remover-deletes-data"] = []string{"RemoveDeployment"}
	mutants["deployment-remover-too-wide"] = []string{"RemoveDeployment"}
	mutants["deployment-remover-skips-strays"] = []string{"RemoveDeployment"}
}

// RemoveDeployment breaks the deployment remover's rules.
func (m *mutant) RemoveDeployment(ctx context.Context, deployment string, tiers [][]string, opts runtime.RemoveOptions) error {
	switch m.bug {
	case "deployment-remover-deletes-data":
		opts.DeleteData = true
	case "deployment-remover-too-wide":
		// Removes the stacks of the same names in every deployment the
		// harness may have named ("d" and a number).
		ds, err := m.Runtime.Observe(ctx, deployment)
		if err != nil {
			return err
		}
		for i := 1; i <= 1000; i++ {
			for _, st := range ds.Stacks {
				ref := runtime.StackRef{Deployment: "d" + strconv.Itoa(i), Stack: st.Name}
				if err := m.Runtime.Remove(ctx, ref, runtime.RemoveOptions{}); err != nil {
					return err
				}
			}
		}
	case "deployment-remover-skips-strays":
		for i := len(tiers) - 1; i >= 0; i-- {
			for _, s := range tiers[i] {
				if err := m.Runtime.Remove(ctx, runtime.StackRef{Deployment: deployment, Stack: s}, opts); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return m.Runtime.RemoveDeployment(ctx, deployment, tiers, opts)
}
