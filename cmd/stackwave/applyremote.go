package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// applyProvider is the provider of the products apply registers from a
// document that names none, locally and on a server alike.
const applyProvider = "stackwave"

// applyRemote does what apply does, through the API of --server: it
// registers the product and a version with the document's spec (or
// reuses the version with the same content), then launches or updates
// the deployment and shows its progress and status as apply does
// locally. The server checks templates and variables when the operation
// is submitted.
func applyRemote(ctx context.Context, env *cliEnv, b *backendFlags, doc *product.Document, req deploy.Request, versionName, progressMode string, detach bool) int {
	d, code := openFor(ctx, env, b, "apply")
	if code != exitOK {
		return code
	}
	defer d.Close()
	r := d.(*remoteDeployments)
	if doc.Active != nil && !*doc.Active {
		env.errorf("apply: the document marks its version inactive (\"active\": false): it cannot be launched or updated to")
		return exitConflict
	}
	p, v, err := registerRemote(ctx, r.c, doc, versionName)
	if err != nil {
		return apiFailed(env, fmt.Errorf("apply: %w", err))
	}
	req.VersionID = v.ID
	op := store.OpLaunch
	var res api.DeploymentResponse
	err = r.c.Do(ctx, http.MethodGet, "/api/deployments/"+url.PathEscape(req.Deployment), nil, &res)
	var ae *api.Error
	switch {
	case err == nil && res.Deployment.Status != store.StatusTerminated:
		if res.Deployment.ProductID != p.ID {
			env.errorf("apply: deployment %s runs product %s, not %s", req.Deployment, res.Deployment.ProductID, p.Name)
			return exitConflict
		}
		op = store.OpUpdate
	case err == nil, errors.As(err, &ae) && ae.Status == http.StatusNotFound:
	default:
		return apiFailed(env, fmt.Errorf("apply: %w", err))
	}
	fmt.Fprintf(env.stderr, "%s %s: product %s (%s), version %s (%s)\n", op, req.Deployment, p.Name, p.ID, v.Name, v.ID)
	if detach {
		rec, err := r.Run(ctx, op, req, true, nil)
		if err != nil {
			return apiFailed(env, fmt.Errorf("apply: %w", err))
		}
		fmt.Fprintln(env.stdout, rec.ID)
		return exitOK
	}
	prog := newProgress(progressMode, env.stdout)
	// An update that applied, repaired or removed no stack changed
	// nothing, as the executor's change set says locally.
	upToDate := op == store.OpUpdate
	rec, err := r.Run(ctx, op, req, false, func(e deploy.Event) {
		switch e.Type {
		case deploy.EventStackApplying, deploy.EventStackRepair, deploy.EventStackRemoving, deploy.EventStackRemoved, deploy.EventRollbackStarted:
			upToDate = false
		}
		prog.event(e)
	})
	prog.done()
	if err != nil {
		return apiFailed(env, err)
	}
	if upToDate && rec.Status == store.OpSucceeded {
		fmt.Fprintf(env.stdout, "%s is up to date\n", req.Deployment)
	}
	if rec.Status != store.OpSucceeded {
		// The operation's message, as the executor's error says locally.
		env.errorf("%s", orDefault(rec.Message, fmt.Sprintf("%s %s: %s", op, req.Deployment, rec.Status)))
		return exitFailed
	}
	st, err := r.Status(ctx, req.Deployment, nil)
	if err != nil {
		return apiFailed(env, fmt.Errorf("status: %w", err))
	}
	return showStatus(env, st, "text")
}

// registerRemote is register through the API.
func registerRemote(ctx context.Context, c *api.Client, doc *product.Document, versionName string) (*product.Product, *product.Version, error) {
	d := *doc
	d.VersionName = orDefault(versionName, doc.VersionName)
	// The provider apply registers locally, whoever the caller is.
	d.ProviderName = orDefault(d.ProviderName, applyProvider)
	body, err := json.Marshal(&d)
	if err != nil {
		return nil, nil, err
	}
	var ae *api.Error
	created, err := c.CreateProduct(ctx, body)
	switch {
	case err == nil:
		pr, err := c.GetProduct(ctx, created.ProductID)
		if err != nil {
			return nil, nil, err
		}
		for _, v := range pr.Versions {
			if v.ID == created.VersionID {
				return pr.Product, v, nil
			}
		}
		return nil, nil, fmt.Errorf("product %s: version %s not found after it was created", doc.Name, created.VersionID)
	case !errors.As(err, &ae) || ae.Status != http.StatusConflict:
		return nil, nil, fmt.Errorf("product %s: %w", doc.Name, err)
	}
	// The product exists: apply adds a version, or reuses the one with
	// the same content.
	pr, err := c.GetProduct(ctx, doc.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("product %s: %w", doc.Name, err)
	}
	p := pr.Product
	hash := product.Hash(doc.StackDeps)
	for i := len(pr.Versions) - 1; i >= 0; i-- {
		v := pr.Versions[i]
		if doc.TemplateURL != "" && v.TemplateURL == doc.TemplateURL || doc.TemplateURL == "" && v.TemplateURL == "" && product.Hash(v.StackDeps) == hash {
			return p, v, nil
		}
	}
	for n := len(pr.Versions) + 1; ; n++ {
		vname := d.VersionName
		if vname == "" {
			vname = fmt.Sprintf("v%d", n)
		}
		active := doc.Active == nil || *doc.Active
		var vr api.VersionResponse
		err := c.Do(ctx, http.MethodPost, "/api/products/"+url.PathEscape(p.ID)+"/versions", api.VersionCreate{
			Name: vname, Description: doc.VersionDescription, Guidance: doc.Guidance, Active: &active,
			StackDeps: doc.StackDeps, TemplateURL: doc.TemplateURL}, &vr)
		if errors.As(err, &ae) && ae.Status == http.StatusConflict && d.VersionName == "" {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("product %s: version %s: %w", p.Name, vname, err)
		}
		return p, vr.Version, nil
	}
}
