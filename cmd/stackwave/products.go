package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// requestTimeout bounds one call of a client command.
const requestTimeout = time.Minute

// clientFlags are the flags every catalog command takes besides the
// global --server and --token-file.
type clientFlags struct {
	output *string
	b      *backendFlags
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	return &clientFlags{output: addOutputFlag(fs), b: addBackendFlags(fs)}
}

// client returns a client of the server --server or STACKWAVE_SERVER
// names, else of the API served in process on the local store (--store),
// and the function that releases it.
func (cf *clientFlags) client(ctx context.Context, env *cliEnv) (*api.Client, func(), error) {
	if u := env.serverURL(); u != "" {
		if cf.b.store != "" || (cf.b.runtime != runtimeAuto && cf.b.runtime != "") {
			return nil, nil, usageError{fmt.Errorf("--store and --runtime are the server's to choose: leave them out with --server")}
		}
		c, err := newClient(env, u)
		if err != nil {
			return nil, nil, usageError{err}
		}
		return c, func() {}, nil
	}
	return localAPI(ctx, cf.b)
}

// newClient returns a client of the server at url, with the token of
// --token-file or STACKWAVE_TOKEN.
func newClient(env *cliEnv, url string) (*api.Client, error) {
	c := &api.Client{URL: url, Token: env.getenv("STACKWAVE_TOKEN")}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL", c.URL)
	}
	if env.tokenFile != "" {
		b, err := os.ReadFile(env.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		c.Token = strings.TrimSpace(string(b))
		if c.Token == "" {
			return nil, fmt.Errorf("--token-file %s: empty token file", env.tokenFile)
		}
	}
	return c, nil
}

// apiFailed prints an API error with its details and returns the exit
// code.
func apiFailed(env *cliEnv, err error) int {
	var e *api.Error
	if !errors.As(err, &e) {
		env.errorf("%v", err)
		return codeOf(err)
	}
	msg := e.Code + " " + e.Message
	if e.RequestID != "" {
		msg += " (request " + e.RequestID + ")"
	}
	env.errorf("%s", msg)
	for _, d := range e.Details {
		if d.Field != "" {
			fmt.Fprintf(env.stderr, "  %s: %s: %s\n", d.Field, d.Type, flagWords.Replace(d.Detail))
		} else {
			fmt.Fprintf(env.stderr, "  %s: %s\n", d.Type, flagWords.Replace(d.Detail))
		}
	}
	return codeOf(err)
}

func productsListCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	var q store.ProductQuery
	fs.StringVar(&q.Name, "name", "", "only the product with this exact name")
	fs.StringVar(&q.Text, "q", "", "only products whose name, provider or description contains TEXT")
	fs.IntVar(&q.Page, "page", 1, "page number")
	fs.IntVar(&q.PageSize, "page-size", store.DefaultPageSize, fmt.Sprintf("products per page (1 to %d)", store.MaxPageSize))
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "products list", args, 0, ""); !ok {
			return code
		}
		return callAPI(env, cf, func(ctx context.Context, c *api.Client) error {
			list, err := c.ListProducts(ctx, q)
			if err != nil {
				return err
			}
			return show(env, cf, list, func() {
				tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tPROVIDER\tVISIBILITY\tCREATED")
				for _, p := range list.Products {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.ProviderName, p.Visibility, p.CreatedAt.UTC().Format(time.RFC3339))
				}
				tw.Flush()
				pages := (list.Total + list.PageSize - 1) / list.PageSize
				fmt.Fprintf(env.stdout, "page %d of %d, %d products\n", list.PageNumber, max(pages, 1), list.Total)
			})
		})
	}
}

func productsGetCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	return apiRunner(env, cf, "products get", 1, "one product ID or name", func(ctx context.Context, c *api.Client, pos []string) error {
		res, err := c.GetProduct(ctx, pos[0])
		if err != nil {
			return err
		}
		return show(env, cf, res, func() { writeProduct(env, res) })
	})
}

// writeProduct prints a product and its versions.
func writeProduct(env *cliEnv, res *api.ProductResponse) {
	p := res.Product
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "product\t%s (%s)\n", p.Name, p.ID)
	fmt.Fprintf(tw, "provider\t%s\n", p.ProviderName)
	fmt.Fprintf(tw, "visibility\t%s\n", p.Visibility)
	if p.ProductType != "" {
		fmt.Fprintf(tw, "type\t%s\n", p.ProductType)
	}
	if p.Description != "" {
		fmt.Fprintf(tw, "description\t%s\n", p.Description)
	}
	if len(p.Tags) > 0 {
		var tags []string
		for _, k := range slices.Sorted(maps.Keys(p.Tags)) {
			tags = append(tags, k+"="+p.Tags[k])
		}
		fmt.Fprintf(tw, "tags\t%s\n", strings.Join(tags, ", "))
	}
	fmt.Fprintf(tw, "created\t%s\n", p.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "revision\t%d\n", p.Revision)
	tw.Flush()
	fmt.Fprintln(env.stdout, "versions:")
	tw = tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	for _, v := range res.Versions {
		active := "inactive"
		if v.Active {
			active = "active"
		}
		tiers, stacks, services := v.StackDeps.Counts()
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d tiers, %d stacks, %d services\n", v.ID, v.Name, v.Guidance, active, tiers, stacks, services)
	}
	tw.Flush()
}

func productsCreateCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	file := fs.String("f", "", "product document, JSON or YAML (- for stdin)")
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "products create", args, 0, ""); !ok {
			return code
		}
		data, err := readDocument(*file, env)
		if err != nil {
			env.errorf("%v", err)
			return exitUsage
		}
		// Decoding here reports a malformed document with its line; the rules
		// are the server's to check, with its catalog.
		doc, err := product.Decode(data)
		if err != nil {
			fmt.Fprintf(env.stderr, "%s: %v\n", displayName(*file), err)
			return exitUsage
		}
		if t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n"); len(t) == 0 || t[0] != '{' {
			// YAML: send its JSON form.
			if data, err = json.Marshal(doc); err != nil {
				env.errorf("%v", err)
				return codeOf(err)
			}
		}
		return callAPI(env, cf, func(ctx context.Context, c *api.Client) error {
			res, err := c.CreateProduct(ctx, data)
			if err != nil {
				return err
			}
			return show(env, cf, res, func() {
				fmt.Fprintf(env.stdout, "created product %s: product_id %s, product_version_id %s\n", doc.Name, res.ProductID, res.VersionID)
			})
		})
	}
}

func productsDeleteCmd(fs *flag.FlagSet, env *cliEnv) runner {
	cf := addClientFlags(fs)
	return apiRunner(env, cf, "products delete", 1, "one product ID or name", func(ctx context.Context, c *api.Client, pos []string) error {
		res, err := c.DeleteProduct(ctx, pos[0])
		if err != nil {
			return err
		}
		return show(env, cf, res, func() { fmt.Fprintf(env.stdout, "deleted product %s (%s)\n", pos[0], res.ProductID) })
	})
}
