package api

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// DefaultVersionName names the first version of a product created
// without a version_name.
const DefaultVersionName = "v1"

// writeTimeout bounds the store writes of a request, which go on when the
// client goes away so that a create is whole or absent.
const writeTimeout = 30 * time.Second

// writeContext returns a context for writes that outlives the client.
func (c *call) writeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.r.Context()), writeTimeout)
}

func (s *Server) validateOptions() *validate.Options {
	return &validate.Options{Catalog: s.opts.Catalog, Limits: s.opts.Limits}
}

// createProduct registers a product and its first version from a product
// document, answering as the seed API does: 400 "Invalid ProductArgs" for
// a body that does not decode (its detail names the field as written,
// with its line and column), 400 "Invalid ProductName or StackDeps" with
// every problem for one that breaks the rules, exceeds a limit or whose
// name is taken by another document, and 623 "Create Product Error" when
// the store fails. The same document again answers the records it made.
func (s *Server) createProduct(c *call) error {
	if err := c.authorize(AllProducts); err != nil {
		return err
	}
	b, err := c.body()
	if err != nil {
		return err
	}
	if err := validate.Size(len(b), s.validateOptions()); err != nil {
		d, _ := invalidDetails(err)
		return newError(http.StatusBadRequest, MsgInvalidProduct, d...)
	}
	var doc *product.Document
	if t := bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\ufeff")), " \t\r\n"); len(t) == 0 || t[0] != '{' {
		err = &product.DecodeError{Msg: "the body must be a JSON object"}
	} else {
		doc, err = product.Decode(b)
	}
	if err != nil {
		return newError(http.StatusBadRequest, MsgInvalidProductArgs, decodeDetail(err)).withCause(err)
	}
	createFailed := func(err error) error {
		return newError(StatusCreateProductError, MsgCreateProductError).withCause(err)
	}
	ctx := c.r.Context()
	// The name is a resource too: a policy may refuse some names, and a
	// name taken by a product the caller may not see is answered as such
	// a refusal, never as a duplicate (nor, for the same document, with
	// the records another caller made).
	if doc.Name != "" {
		if err := c.authorize(ProductResource(doc.Name)); err != nil {
			return err
		}
		if err := s.hiddenName(ctx, c, doc.Name); err != nil {
			return err
		}
	}

	var details []Detail
	if err := validate.Document(doc, s.validateOptions()); err != nil {
		d, ok := invalidDetails(err)
		if !ok {
			return createFailed(err)
		}
		details = d
		// Report a taken name along with the other problems.
		if !slices.ContainsFunc(details, func(d Detail) bool { return d.Field == "product_name" }) {
			taken, err := s.nameTaken(ctx, doc.Name)
			if err != nil {
				return createFailed(err)
			}
			if taken {
				details = append([]Detail{nameTaken(doc.Name)}, details...)
			}
		}
	}
	if len(details) == 0 && doc.TemplateURL != "" {
		_, err := s.st.GetTemplate(ctx, doc.TemplateURL)
		switch {
		case errors.Is(err, store.ErrNotFound):
			details = append(details, Detail{Field: "template_url", Type: TypeNotFound, Detail: "no template " + doc.TemplateURL})
		case err != nil:
			return createFailed(err)
		}
	}
	if len(details) > 0 {
		return newError(http.StatusBadRequest, MsgInvalidProduct, details...)
	}

	wctx, cancel := c.writeContext()
	defer cancel()
	active := true
	if doc.Active != nil {
		active = *doc.Active
	}
	p, v, err := s.register(wctx, c,
		&product.Product{
			Name: doc.Name, ProviderName: cmp.Or(doc.ProviderName, c.principal.Name),
			Description: doc.Description, ProductType: doc.ProductType, Visibility: doc.Visibility, Tags: doc.Tags,
		},
		&product.Version{
			Name: cmp.Or(doc.VersionName, DefaultVersionName), Description: doc.VersionDescription,
			Guidance: doc.Guidance, Active: active, StackDeps: doc.StackDeps, TemplateURL: doc.TemplateURL,
		})
	if errors.Is(err, store.ErrAlreadyExists) {
		// Taken meanwhile.
		if derr := s.hiddenName(ctx, c, doc.Name); derr != nil {
			return derr
		}
	}
	if err != nil {
		return s.createError(err, doc)
	}
	return c.ok(CreateProductResponse{ProductID: p.ID, VersionID: v.ID, RequestID: c.id})
}

// register stores a product and its first version, the version's
// ProductID being set here. Every product create, native or Service
// Catalog compatible, goes through it. A product without a version cannot
// be launched, so when the version fails the product is deleted again.
func (s *Server) register(ctx context.Context, c *call, p *product.Product, v *product.Version) (*product.Product, *product.Version, error) {
	// The product and its version are written at once
	// (*store.Store.Register); a retry of the same document answers the
	// records the first request made.
	active := v.Active
	reg, err := s.st.Register(ctx, &product.Document{
		Name: p.Name, ProviderName: p.ProviderName, Description: p.Description, ProductType: p.ProductType,
		Visibility: p.Visibility, Tags: p.Tags, StackDeps: v.StackDeps, TemplateURL: v.TemplateURL,
		VersionName: v.Name, VersionDescription: v.Description, Guidance: v.Guidance, Active: &active,
	}, nil)
	if err != nil {
		return nil, nil, err
	}
	return reg.Product, reg.Version, nil
}

// createError answers a store error of createProduct.
func (s *Server) createError(err error, doc *product.Document) error {
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return newError(http.StatusBadRequest, MsgInvalidProduct, nameTaken(doc.Name))
	case errors.Is(err, store.ErrNotFound) && doc.TemplateURL != "":
		return newError(http.StatusBadRequest, MsgInvalidProduct,
			Detail{Field: "template_url", Type: TypeNotFound, Detail: "no template " + doc.TemplateURL})
	case errors.Is(err, store.ErrInvalid):
		d, _ := invalidDetails(err)
		return newError(http.StatusBadRequest, MsgInvalidProduct, d...)
	}
	return newError(StatusCreateProductError, MsgCreateProductError).withCause(err)
}

func nameTaken(name string) Detail {
	return Detail{Field: "product_name", Type: TypeDuplicate, Detail: fmt.Sprintf("a product named %q already exists", name)}
}

func (s *Server) nameTaken(ctx context.Context, name string) (bool, error) {
	page, err := s.st.ListProducts(ctx, store.ProductQuery{Name: name, PageSize: 1})
	if errors.Is(err, store.ErrInvalid) {
		return false, nil // the name itself is wrong, and reported
	}
	if err != nil {
		return false, err
	}
	return page.Total > 0, nil
}

// hiddenName returns the denial to answer when the product name a create
// or rename asks for is taken by a product the caller may not see (see
// takenFromView), and nil when the name is free or its product visible.
func (s *Server) hiddenName(ctx context.Context, c *call, name string) error {
	if s.opts.Authorizer == nil || name == "" {
		return nil
	}
	page, err := s.st.ListProducts(ctx, store.ProductQuery{Name: name, PageSize: 1})
	if errors.Is(err, store.ErrInvalid) {
		return nil // the name itself is wrong, and reported
	}
	if err != nil {
		return err
	}
	if len(page.Items) == 0 {
		return nil
	}
	return c.takenFromView(ProductResource(name), ActionGetProduct, ProductResource(page.Items[0].ID), ProductResource(name))
}

// query reads the URL query, refusing parameters not in allowed, and
// parameters given twice: a typo must not pass silently.
func (c *call) query(allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		return nil, invalid("", TypeInvalid, "malformed query string")
	}
	var details []Detail
	for _, k := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(allowed, k):
			details = append(details, Detail{Field: k, Type: TypeNotSupported,
				Detail: "unknown query parameter; supported: " + strings.Join(allowed, ", ")})
		case len(q[k]) > 1:
			details = append(details, Detail{Field: k, Type: TypeDuplicate, Detail: "given more than once"})
		}
	}
	if len(details) > 0 {
		return nil, newError(http.StatusBadRequest, MsgInvalidRequest, details...)
	}
	return q, nil
}

// intParam reads an integer query parameter in [min, max]; def when
// absent.
func intParam(q url.Values, name string, def, min, max int) (int, *Detail) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, &Detail{Field: name, Type: TypeInvalid, Detail: fmt.Sprintf("must be an integer from %d to %d, got %q", min, max, v)}
	}
	return n, nil
}

func (s *Server) listProducts(c *call) error {
	if err := c.authorize(AllProducts); err != nil {
		return err
	}
	q := c.q
	var details []Detail
	page, d := intParam(q, "page_number", 1, 1, 1<<20)
	if d != nil {
		details = append(details, *d)
	}
	size, d := intParam(q, "page_size", store.DefaultPageSize, 1, store.MaxPageSize)
	if d != nil {
		details = append(details, *d)
	}
	newest := false
	if v := q.Get("newest"); v != "" {
		var err error
		if newest, err = strconv.ParseBool(v); err != nil {
			details = append(details, Detail{Field: "newest", Type: TypeInvalid, Detail: fmt.Sprintf("must be true or false, got %q", v)})
		}
	}
	if len(details) > 0 {
		return newError(http.StatusBadRequest, MsgInvalidRequest, details...)
	}
	res, err := s.visibleProducts(c.r.Context(), c, store.ProductQuery{
		Name: q.Get("product_name"), Text: q.Get("q"), Page: page, PageSize: size, Newest: newest,
	})
	if err != nil {
		var ie *store.InvalidError
		if errors.As(err, &ie) && ie.Field == "text" {
			ie.Field = "q"
		}
		return err
	}
	return c.ok(ProductList{Products: res.Items, Total: res.Total, PageNumber: res.Page, PageSize: res.PageSize, RequestID: c.id})
}

// resolveProduct reads the product the path names by ID or name and
// checks that the caller may perform the route's action on it. A product
// that does not exist is judged by the name given, so that callers learn
// nothing of products they may not see.
func (s *Server) resolveProduct(c *call) (*product.Product, error) {
	key := c.r.PathValue("product")
	p, err := s.st.GetProduct(c.r.Context(), key)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		if err := c.authorize(ProductResource(key)); err != nil {
			return nil, c.hide(err, "product", key, ActionGetProduct, ProductResource(key))
		}
		return nil, notFound("product", key)
	}
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ProductResource(p.ID)); err != nil {
		return nil, c.hide(err, "product", key, ActionGetProduct, ProductResource(p.ID))
	}
	return p, nil
}

func (s *Server) getProduct(c *call) error {
	p, err := s.resolveProduct(c)
	if err != nil {
		return err
	}
	vs, err := s.st.ListVersions(c.r.Context(), p.ID, store.VersionQuery{})
	if err != nil {
		return err
	}
	return c.ok(ProductResponse{Product: p, Versions: s.redactVersions(visibleVersions(c, vs)), RequestID: c.id})
}

func (s *Server) updateProduct(c *call) error {
	p, err := s.resolveProduct(c)
	if err != nil {
		return err
	}
	var u ProductUpdate
	if err := c.decode(&u, false); err != nil {
		return err
	}
	if u.Revision != 0 && u.Revision != p.Revision {
		return staleRevision("product", p.ID, u.Revision, p.Revision)
	}
	renamed := u.Name != nil && *u.Name != "" && *u.Name != p.Name
	setIf(&p.Name, u.Name)
	setIf(&p.ProviderName, u.ProviderName)
	setIf(&p.Description, u.Description)
	setIf(&p.ProductType, u.ProductType)
	setIf(&p.Visibility, u.Visibility)
	if u.Tags != nil {
		p.Tags = u.Tags
	}
	if renamed {
		// A rename is judged on the new name too (see createProduct).
		if err := c.authorize(ProductResource(*u.Name)); err != nil {
			return err
		}
	}
	wctx, cancel := c.writeContext()
	defer cancel()
	np, err := s.st.UpdateProduct(wctx, p)
	if errors.Is(err, store.ErrAlreadyExists) {
		if derr := s.hiddenName(c.r.Context(), c, p.Name); derr != nil {
			return derr
		}
		return newError(http.StatusConflict, MsgConflict, nameTaken(p.Name))
	}
	if err != nil {
		return err
	}
	return c.ok(ProductResponse{Product: np, RequestID: c.id})
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func staleRevision(kind, id string, given, current int64) *Error {
	return newError(http.StatusConflict, MsgConflict, Detail{Field: "revision", Type: TypeConflict,
		Detail: fmt.Sprintf("%s %s is at revision %d, not %d: read it again and retry", kind, id, current, given)})
}

// deleteProduct deletes a product and its versions. It answers 624
// "Delete Product Error" when the product is deployed, naming the
// deployments, or when the store fails.
func (s *Server) deleteProduct(c *call) error {
	p, err := s.resolveProduct(c)
	if err != nil {
		return err
	}
	wctx, cancel := c.writeContext()
	defer cancel()
	err = s.st.DeleteProduct(wctx, p.ID)
	switch {
	case err == nil:
		return c.ok(DeleteProductResponse{ProductID: p.ID, RequestID: c.id})
	case errors.Is(err, store.ErrNotFound):
		return notFound("product", c.r.PathValue("product"))
	case errors.Is(err, store.ErrInUse):
		detail := "the product has deployments: terminate them and delete their records first"
		if deps, lerr := s.st.ListDeployments(wctx, store.DeploymentQuery{ProductID: p.ID}); lerr == nil && len(deps) > 0 {
			names := make([]string, len(deps))
			for i, d := range deps {
				names[i] = fmt.Sprintf("%s (%s)", d.Name, d.Status)
			}
			detail = "the product is deployed as " + strings.Join(names, ", ") +
				": terminate these deployments and delete their records first"
		}
		return newError(StatusDeleteProductError, MsgDeleteProductError,
			Detail{Field: "product_id", Type: TypeInUse, Detail: detail})
	}
	return newError(StatusDeleteProductError, MsgDeleteProductError,
		Detail{Field: "product_id", Type: TypeInternal, Detail: "the store failed; the server log has the cause under request ID " + c.id}).withCause(err)
}

// redactVersions returns the versions with their env values hidden
// unless Options.ShowEnvValues is set.
func (s *Server) redactVersions(vs []*product.Version) []*product.Version {
	for i, v := range vs {
		vs[i] = s.redactVersion(v)
	}
	return vs
}

func (s *Server) redactVersion(v *product.Version) *product.Version {
	if s.opts.ShowEnvValues || v == nil {
		return v
	}
	c := *v
	c.StackDeps = redactDeps(v.StackDeps)
	return &c
}

func (s *Server) redactTemplate(t *store.Template) *store.Template {
	if s.opts.ShowEnvValues || t == nil {
		return t
	}
	c := *t
	c.StackDeps = redactDeps(t.StackDeps)
	return &c
}

// redactDeps returns deps with every env value replaced by "<redacted>",
// copying only what it changes.
func redactDeps(deps stack.Deps) stack.Deps {
	out := deps
	copied := false
	for ti, tier := range deps {
		for si := range tier {
			for k := range tier[si].Services {
				envs := tier[si].Services[k].Envs
				if len(envs) == 0 {
					continue
				}
				if !copied {
					out = cloneDeps(deps)
					copied = true
				}
				red := make([]string, len(envs))
				for i, kv := range envs {
					key, _, _ := strings.Cut(kv, "=")
					red[i] = key + "=<redacted>"
				}
				out[ti][si].Services[k].Envs = red
			}
		}
	}
	return out
}

// cloneDeps copies the tiers, stacks and service lists of deps (not the
// services' own slices).
func cloneDeps(deps stack.Deps) stack.Deps {
	out := make(stack.Deps, len(deps))
	for ti, tier := range deps {
		out[ti] = make(stack.Tier, len(tier))
		for si := range tier {
			st := tier[si]
			st.Services = slices.Clone(st.Services)
			out[ti][si] = st
		}
	}
	return out
}
