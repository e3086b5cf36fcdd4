package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/product"
)

// callAPI runs fn with a client of the server the flags name and prints
// an API error; it returns the exit code.
func callAPI(env *cliEnv, cf *clientFlags, fn func(ctx context.Context, c *api.Client) error) int {
	ctx, cancel := context.WithTimeout(env.context(), requestTimeout)
	defer cancel()
	c, release, err := cf.client(ctx, env)
	if err != nil {
		env.errorf("%v", err)
		if _, ok := err.(usageError); ok {
			return exitUsage
		}
		return codeOf(err)
	}
	defer release()
	if err := fn(ctx, c); err != nil {
		if code, ok := err.(exitCode); ok {
			return int(code)
		}
		return apiFailed(env, err)
	}
	return exitOK
}

// apiRunner is the runner of a command that takes nargs positional
// arguments (what they are says what) and calls the API once with them.
func apiRunner(env *cliEnv, cf *clientFlags, cmd string, nargs int, what string, fn func(ctx context.Context, c *api.Client, pos []string) error) runner {
	return func(args []string) int {
		pos, code, ok := wantArgs(env, cmd, args, nargs, what)
		if !ok {
			return code
		}
		return callAPI(env, cf, func(ctx context.Context, c *api.Client) error { return fn(ctx, c, pos) })
	}
}

// show writes v in the -o format, or calls text for -o text.
func show(env *cliEnv, cf *clientFlags, v any, text func()) error {
	if *cf.output != "text" {
		if code := writeOutput(env, *cf.output, v); code != exitOK {
			return exitCode(code)
		}
		return nil
	}
	text()
	return nil
}

func writeVersions(env *cliEnv, vs []*product.Version) {
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tGUIDANCE\tACTIVE\tSPEC\tCREATED")
	for _, v := range vs {
		tiers, stacks, services := v.StackDeps.Counts()
		spec := fmt.Sprintf("%d tiers, %d stacks, %d services", tiers, stacks, services)
		if v.TemplateURL != "" {
			spec = "template " + v.TemplateURL
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", v.ID, v.Name, orDefault(string(v.Guidance), "-"), v.Active, spec, v.CreatedAt.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}

func versionsListCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	return apiRunner(env, cf, "versions list", 1, "one product ID or name", func(ctx context.Context, c *api.Client, pos []string) error {
		var res api.VersionList
		if err := c.Do(ctx, http.MethodGet, "/api/products/"+url.PathEscape(pos[0])+"/versions", nil, &res); err != nil {
			return err
		}
		return show(env, cf, res, func() { writeVersions(env, res.Versions) })
	})
}

func versionsGetCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	return apiRunner(env, cf, "versions get", 1, "one version ID", func(ctx context.Context, c *api.Client, pos []string) error {
		var res api.VersionResponse
		if err := c.Do(ctx, http.MethodGet, "/api/versions/"+url.PathEscape(pos[0]), nil, &res); err != nil {
			return err
		}
		return show(env, cf, res, func() { writeVersions(env, []*product.Version{res.Version}) })
	})
}

// versionsPatchCmd changes one field of a version: active (activate,
// deactivate) or its guidance.
func versionsPatchCmd(name string, patch func(args []string) (*api.VersionUpdate, error), nargs int, what string) func(fs *flag.FlagSet, env *cliEnv) runner {
	return func(fs *flag.FlagSet, env *cliEnv) runner {
		cf := addClientFlags(fs)
		return func(args []string) int {
			pos, code, ok := wantArgs(env, "versions "+name, args, nargs, what)
			if !ok {
				return code
			}
			up, err := patch(pos[1:])
			if err != nil {
				env.errorf("versions %s: %v", name, err)
				return exitUsage
			}
			return callAPI(env, cf, func(ctx context.Context, c *api.Client) error {
				var res api.VersionResponse
				if err := c.Do(ctx, http.MethodPatch, "/api/versions/"+url.PathEscape(pos[0]), up, &res); err != nil {
					return err
				}
				return show(env, cf, res, func() { writeVersions(env, []*product.Version{res.Version}) })
			})
		}
	}
}

func setActive(active bool) func([]string) (*api.VersionUpdate, error) {
	return func([]string) (*api.VersionUpdate, error) { return &api.VersionUpdate{Active: &active}, nil }
}

func setGuidance(args []string) (*api.VersionUpdate, error) {
	g := product.Guidance(args[0])
	switch g {
	case product.GuidanceDefault, product.GuidanceRecommended, product.GuidanceLatest, product.GuidanceDeprecated:
	case "none":
		g = ""
	default:
		return nil, fmt.Errorf("guidance %q: want Default, Recommended, Latest, Deprecated or none", args[0])
	}
	return &api.VersionUpdate{Guidance: &g}, nil
}

// readJSONDocument reads the -f document of cmd, JSON or YAML, as JSON;
// when it cannot, it says why.
func readJSONDocument(env *cliEnv, cmd, file string) ([]byte, bool) {
	data, err := readDocument(file, env)
	if err != nil {
		env.errorf("%s: %v", cmd, err)
		return nil, false
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		if data, err = yaml.YAMLToJSON(data); err != nil {
			env.errorf("%s: %s: %v", cmd, displayName(file), err)
			return nil, false
		}
	}
	return data, true
}

func templatesCreateCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	file := fs.String("f", "", `template document, JSON or YAML (- for stdin): {"description": "...", "stack_deps": [[...]]}`)
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "templates create", args, 0, ""); !ok {
			return code
		}
		data, ok := readJSONDocument(env, "templates create", *file)
		if !ok {
			return exitUsage
		}
		return callAPI(env, cf, func(ctx context.Context, c *api.Client) error {
			var res api.TemplateResponse
			if err := c.Do(ctx, http.MethodPost, "/api/templates", data, &res); err != nil {
				return err
			}
			return show(env, cf, res, func() {
				fmt.Fprintf(env.stdout, "created template %s: template_url %s\n", res.TemplateID, res.TemplateURL)
			})
		})
	}
}

func templatesGetCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	return apiRunner(env, cf, "templates get", 1, "one template ID or URL", func(ctx context.Context, c *api.Client, pos []string) error {
		var res api.TemplateResponse
		if err := c.Do(ctx, http.MethodGet, "/api/templates/"+url.PathEscape(pos[0]), nil, &res); err != nil {
			return err
		}
		return show(env, cf, res, func() {
			t := res.Template
			tiers, stacks, services := t.StackDeps.Counts()
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "template\t%s\n", t.ID)
			fmt.Fprintf(tw, "url\t%s\n", t.URL)
			if t.Description != "" {
				fmt.Fprintf(tw, "description\t%s\n", t.Description)
			}
			fmt.Fprintf(tw, "spec\t%d tiers, %d stacks, %d services\n", tiers, stacks, services)
			fmt.Fprintf(tw, "content hash\t%s\n", t.ContentHash)
			fmt.Fprintf(tw, "created\t%s\n", t.CreatedAt.UTC().Format(time.RFC3339))
			tw.Flush()
		})
	})
}
