package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

// seeOnly is a custom authorizer that allows every List action, and Get
// only on the resources in it.
type seeOnly map[string]bool

func (s seeOnly) Authorize(_ context.Context, p *auth.Principal, action, resource string) error {
	if strings.HasPrefix(action, "stackwave:List") || strings.HasPrefix(action, "stackwave:Get") && s[resource] {
		return nil
	}
	return fmt.Errorf("%w: %s may not %s %s", auth.ErrDenied, p.Name, action, resource)
}

// visibleTo are the resources dave may see in TestListingsShowOnlyVisible.
var visibleTo = []string{
	"swn:product/prod-p1", "swn:product/prod-p3", "swn:product/prod-p5", "swn:product/prod-p6",
	"swn:version/pv-1a", "swn:deployment/ci-vis",
}

// TestListingsShowOnlyVisible: a caller allowed to list sees only the
// items it may get, and paging (page contents, total) counts only those,
// so that neither a short page nor a total reveals a hidden item.
func TestListingsShowOnlyVisible(t *testing.T) {
	const dave = "Bearer dave-0123456789abcdef"
	quoted := make([]string, len(visibleTo))
	for i, r := range visibleTo {
		quoted[i] = fmt.Sprintf("%q", r)
	}
	policy := `{"Statement": [
  {"Effect": "Allow", "Principal": "dave", "Action": "stackwave:List*", "Resource": "*"},
  {"Effect": "Allow", "Principal": "dave", "Action": "stackwave:Get*", "Resource": [` + strings.Join(quoted, ", ") + `]}]}`
	custom := seeOnly{}
	for _, r := range visibleTo {
		custom[r] = true
	}
	for name, az := range map[string]auth.Authorizer{"policy": mustPolicy(t, policy), "custom": custom} {
		t.Run(name, func(t *testing.T) {
			toks, err := auth.ParseTokens(strings.NewReader(tokenFile))
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, &harnessOptions{api: api.Options{Authenticator: toks, Authorizer: az}})
			ctx := context.Background()
			deps := stack.Deps{{{Name: "web", Services: []stack.Service{{Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"}}}}}}
			for i := range 7 {
				if _, err := h.st.CreateProduct(ctx, &product.Product{ID: fmt.Sprintf("prod-p%d", i), Name: fmt.Sprintf("n%d", i), ProviderName: "tests"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range []string{"pv-1a", "pv-1b"} {
				if _, err := h.st.CreateVersion(ctx, &product.Version{ID: id, ProductID: "prod-p1", Name: id, Active: true, StackDeps: deps}); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range []string{"ci-vis", "ci-hid"} {
				if _, err := h.ex.Launch(ctx, deploy.Request{Deployment: d, VersionID: "pv-1a"}); err != nil {
					t.Fatal(err)
				}
			}

			products := func(query string) api.ProductList {
				t.Helper()
				res := h.do("GET", "/api/products"+query, "", "Authorization", dave)
				var l api.ProductList
				if res.status != 200 || json.Unmarshal(res.body, &l) != nil {
					t.Fatalf("GET /api/products%s: %s", query, res)
				}
				return l
			}
			for _, tc := range []struct {
				query string
				names []string
				total int
			}{
				{"", []string{"n1", "n3", "n5", "n6"}, 4},
				{"?page_size=3", []string{"n1", "n3", "n5"}, 4},
				{"?page_size=3&page_number=2", []string{"n6"}, 4},
				{"?page_size=3&page_number=3", nil, 4},
				{"?page_size=2&newest=true", []string{"n6", "n5"}, 4},
				{"?product_name=n0", nil, 0},
				{"?product_name=n3", []string{"n3"}, 1},
				{"?q=n", []string{"n1", "n3", "n5", "n6"}, 4},
			} {
				l := products(tc.query)
				var names []string
				for _, p := range l.Products {
					names = append(names, p.Name)
				}
				if !slices.Equal(names, tc.names) || l.Total != tc.total {
					t.Errorf("GET /api/products%s: %q total %d, want %q total %d", tc.query, names, l.Total, tc.names, tc.total)
				}
			}

			for _, path := range []string{"/api/products/n1/versions", "/api/products/n1"} {
				res := h.do("GET", path, "", "Authorization", dave)
				var l api.VersionList
				if res.status != 200 || json.Unmarshal(res.body, &l) != nil {
					t.Fatalf("GET %s: %s", path, res)
				}
				var ids []string
				for _, v := range l.Versions {
					ids = append(ids, v.ID)
				}
				if !slices.Equal(ids, []string{"pv-1a"}) || strings.Contains(string(res.body), "pv-1b") {
					t.Errorf("GET %s lists %q, want only pv-1a:\n%s", path, ids, res.body)
				}
			}

			res := h.do("GET", "/api/deployments", "", "Authorization", dave)
			var dl api.DeploymentList
			if res.status != 200 || json.Unmarshal(res.body, &dl) != nil {
				t.Fatalf("GET /api/deployments: %s", res)
			}
			if len(dl.Deployments) != 1 || dl.Deployments[0].Name != "ci-vis" || strings.Contains(string(res.body), "ci-hid") {
				t.Errorf("GET /api/deployments lists more than ci-vis:\n%s", res.body)
			}
			all := h.do("GET", "/api/products?page_size=100", "", "Authorization", dave)
			for _, hidden := range []string{"prod-p0", "prod-p2", "prod-p4"} {
				if strings.Contains(string(all.body), hidden) {
					t.Errorf("the listing shows %s:\n%s", hidden, all.body)
				}
			}
		})
	}
}
