package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// Delete removes a terminated deployment's record and history, as
// DELETE /api/deployments/{name} does.
func (l *localDeployments) Delete(ctx context.Context, name string) error {
	st := l.ex.Store()
	d, err := st.GetDeployment(ctx, name)
	if err != nil {
		return err
	}
	if d.Status != store.StatusTerminated {
		return fmt.Errorf("%w: deployment %s is %s: terminate it first", store.ErrConflict, name, d.Status)
	}
	return st.DeleteDeployment(ctx, name, d.Revision)
}

func (r *remoteDeployments) Delete(ctx context.Context, name string) error {
	return r.c.Do(ctx, http.MethodDelete, "/api/deployments/"+url.PathEscape(name), nil, &api.DeleteDeploymentResponse{})
}

func (l *localDeployments) SetReconcilePaused(ctx context.Context, name string, paused bool) error {
	return l.ex.SetReconcilePaused(ctx, name, paused)
}

func (r *remoteDeployments) SetReconcilePaused(ctx context.Context, name string, paused bool) error {
	return r.c.Do(ctx, http.MethodPut, "/api/deployments/"+url.PathEscape(name)+"/reconcile", api.ReconcileRequest{Paused: paused}, &api.DeploymentResponse{})
}

func deploymentsDeleteCmd(fs *flag.FlagSet, env *cliEnv) runner {
	b := addBackendFlags(fs)
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "deployments delete", args, 1, "a deployment NAME")
		if !ok {
			return code
		}
		return withDeployments(env, b, "deployments delete", func(ctx context.Context, d deployments) error {
			if err := d.Delete(ctx, pos[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(env.stdout, "deleted deployment %s\n", pos[0])
			return err
		})
	}
}

func deploymentsReconcileCmd(fs *flag.FlagSet, env *cliEnv) runner {
	pause := fs.Bool("pause", false, "leave the deployment alone whatever drifts")
	resume := fs.Bool("resume", false, "repair the deployment again when it drifts")
	b := addBackendFlags(fs)
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "deployments reconcile", args, 1, "a deployment NAME")
		if !ok {
			return code
		}
		if *pause == *resume {
			env.errorf("deployments reconcile: give one of --pause and --resume")
			return exitUsage
		}
		return withDeployments(env, b, "deployments reconcile", func(ctx context.Context, d deployments) error {
			if err := d.SetReconcilePaused(ctx, pos[0], *pause); err != nil {
				return err
			}
			state := "resumed"
			if *pause {
				state = "paused"
			}
			_, err := fmt.Fprintf(env.stdout, "reconciling of %s: %s\n", pos[0], state)
			return err
		})
	}
}

func versionsDeleteCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	return apiRunner(env, cf, "versions delete", 1, "one version ID", func(ctx context.Context, c *api.Client, pos []string) error {
		var res api.DeleteVersionResponse
		if err := c.Do(ctx, http.MethodDelete, "/api/versions/"+url.PathEscape(pos[0]), nil, &res); err != nil {
			return err
		}
		return show(env, cf, res, func() { fmt.Fprintf(env.stdout, "deleted version %s\n", res.VersionID) })
	})
}

func productsUpdateCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	var u api.ProductUpdate
	str := func(dst **string) func(string) error {
		return func(s string) error { *dst = &s; return nil }
	}
	fs.Func("name", "rename the product", str(&u.Name))
	fs.Func("provider", "set the provider name", str(&u.ProviderName))
	fs.Func("description", "set the description", str(&u.Description))
	fs.Func("type", "set the product type", str(&u.ProductType))
	fs.Func("visibility", "set the visibility: private or public", func(s string) error {
		v := product.Visibility(s)
		u.Visibility = &v
		return nil
	})
	tags := kvFlag{}
	fs.Var(tags, "tag", "set the tags, KEY=VALUE (repeatable; replaces them all)")
	fs.Int64Var(&u.Revision, "revision", 0, "refuse the change (exit 4) unless the product is at this revision")
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "products update", args, 1, "one product ID or name")
		if !ok {
			return code
		}
		if len(tags) > 0 {
			u.Tags = tags
		}
		return callAPI(env, cf, func(ctx context.Context, c *api.Client) error {
			var res api.ProductResponse
			if err := c.Do(ctx, http.MethodPatch, "/api/products/"+url.PathEscape(pos[0]), &u, &res); err != nil {
				return err
			}
			return show(env, cf, res, func() {
				fmt.Fprintf(env.stdout, "updated product %s (%s), revision %d\n", res.Product.Name, res.Product.ID, res.Product.Revision)
			})
		})
	}
}

func versionsCreateCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	file := fs.String("f", "", `version document, JSON or YAML (- for stdin): {"version_name": "v2", "stack_deps": [[...]]} or {"version_name": "v2", "template_url": "..."}`)
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "versions create", args, 1, "one product ID or name")
		if !ok {
			return code
		}
		data, ok := readJSONDocument(env, "versions create", *file)
		if !ok {
			return exitUsage
		}
		return callAPI(env, cf, func(ctx context.Context, c *api.Client) error {
			var res api.VersionResponse
			if err := c.Do(ctx, http.MethodPost, "/api/products/"+url.PathEscape(pos[0])+"/versions", json.RawMessage(data), &res); err != nil {
				return err
			}
			return show(env, cf, res, func() { writeVersions(env, []*product.Version{res.Version}) })
		})
	}
}
