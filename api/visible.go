package api

import (
	"cmp"
	"context"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// Listings show only what the caller may see: an item is listed when the
// caller may perform the Get action of its kind on it, the same check that
// decides whether a named resource answers or is "not found" (call.hide).
// See "Listings" in doc.go for how this meets paging.

// visibleProducts answers page q.Page of the products matching q that the
// caller may see, with Total counting only those. Without an authorizer
// every product is visible and the store's page is answered as it is.
// Otherwise the store is read to the end of the match, MaxPageSize rows at
// a time, the visible products kept, and the page cut from them: a page
// cut before filtering would come back short and its Total would count
// hidden products, both of which tell the caller they exist.
func (s *Server) visibleProducts(ctx context.Context, c *call, q store.ProductQuery) (*store.ProductPage, error) {
	if s.opts.Authorizer == nil {
		return s.st.ListProducts(ctx, q)
	}
	// The caller's paging was checked by listProducts.
	want := store.ProductPage{Page: max(q.Page, 1), PageSize: cmp.Or(q.PageSize, store.DefaultPageSize)}
	seen := map[string]bool{}
	var all []*product.Product
	for page := 1; ; page++ {
		res, err := s.st.ListProducts(ctx, store.ProductQuery{Name: q.Name, Text: q.Text, Page: page, PageSize: store.MaxPageSize, Newest: q.Newest})
		if err != nil {
			return nil, err
		}
		for _, p := range res.Items {
			// A product created meanwhile shifts later rows by one:
			// one seen twice is listed once.
			if !seen[p.ID] && c.may(ActionGetProduct, ProductResource(p.ID)) {
				seen[p.ID] = true
				all = append(all, p)
			}
		}
		if len(res.Items) < store.MaxPageSize {
			break
		}
	}
	out := &store.ProductPage{Items: []*product.Product{}, Total: len(all), Page: want.Page, PageSize: want.PageSize}
	if from := (want.Page - 1) * want.PageSize; from < len(all) {
		out.Items = all[from:min(from+want.PageSize, len(all))]
	}
	return out, nil
}

// visibleVersions keeps the versions the caller may see.
func visibleVersions(c *call, vs []*product.Version) []*product.Version {
	out := vs[:0:0]
	for _, v := range vs {
		if c.may(ActionGetVersion, VersionResource(v.ID)) {
			out = append(out, v)
		}
	}
	return out
}

// visibleDeployments keeps the deployments the caller may see.
func visibleDeployments(c *call, ds []*store.Deployment) []*store.Deployment {
	out := ds[:0:0]
	for _, d := range ds {
		if c.may(ActionGetDeployment, DeploymentResource(d.Name)) {
			out = append(out, d)
		}
	}
	return out
}
