package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
)

// previewRemote is plan --name through the API of --server: what
// applying the document to the deployment would change, as the server's
// executor computes it (drift on the server's runtime included), printed
// as local plan prints it. Nothing is registered.
func previewRemote(ctx context.Context, env *cliEnv, d deployments, doc *product.Document, req deploy.Request, output string) int {
	r := d.(*remoteDeployments)
	deps := doc.StackDeps
	if doc.TemplateURL != "" {
		var res api.TemplateResponse
		if err := r.c.Do(ctx, http.MethodGet, "/api/templates/"+url.PathEscape(doc.TemplateURL), nil, &res); err != nil {
			return apiFailed(env, fmt.Errorf("plan: template %s: %w", doc.TemplateURL, err))
		}
		deps = res.Template.StackDeps
	}
	var res api.PreviewResponse
	err := r.c.Do(ctx, http.MethodPost, "/api/deployments/"+url.PathEscape(req.Deployment)+"/preview",
		api.PreviewRequest{StackDeps: deps, Vars: req.Vars, ConfigTemplates: req.ConfigTemplates}, &res)
	if err != nil {
		return apiFailed(env, fmt.Errorf("plan: %w", err))
	}
	return showChanges(env, req.Deployment, res.Changes, output)
}

// showChanges prints what plan --name found and returns the exit code.
func showChanges(env *cliEnv, name string, cs *deploy.ChangeSet, output string) int {
	if output != "text" {
		return writeOutput(env, output, cs)
	}
	fmt.Fprintf(env.stdout, "deployment %s: ", name)
	if err := cs.WriteText(env.stdout); err != nil {
		env.errorf("%v", err)
		return codeOf(err)
	}
	return exitOK
}
