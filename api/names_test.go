package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/product"
)

// createRules is the custom authorizer of TestCreateOverHiddenName, with
// the rules of its policy.
type createRules struct{}

func (createRules) Authorize(_ context.Context, p *auth.Principal, action, res string) error {
	ok := p.Name == "alice" ||
		p.Name == "dave" && action == "stackwave:CreateProduct" && (res == "swn:product/*" || strings.HasPrefix(res, "swn:product/k")) ||
		p.Name == "dave" && action == "stackwave:UpdateProduct" && (res == "swn:product/prod-mine" || strings.HasPrefix(res, "swn:product/k")) ||
		p.Name == "dave" && action == "stackwave:LaunchProduct" && (strings.HasPrefix(res, "swn:product/") || strings.HasPrefix(res, "swn:deployment/ci-"))
	if ok {
		return nil
	}
	return &auth.DeniedError{Principal: p.Name, Action: action, Resource: res}
}

// TestCreateOverHiddenName: creating a product, or launching a
// deployment, under a name taken by one the caller may not see answers
// exactly as a refusal of that name does, never "already exists" nor the
// taken resource's status; a caller who may see it is told it exists.
func TestCreateOverHiddenName(t *testing.T) {
	const (
		dave  = "Bearer dave-0123456789abcdef"
		alice = "Bearer alice-0123456789abcdef"
		doc   = `{"product_name": "{N}", "stack_deps": [[{"stack_name": "web", "services": [{"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"}}]}]]}`
	)
	policy := `{"Statement": [
  {"Effect": "Allow", "Principal": "dave", "Action": "stackwave:CreateProduct", "Resource": ["swn:product/?", "swn:product/k*"]},
  {"Effect": "Allow", "Principal": "dave", "Action": "stackwave:UpdateProduct", "Resource": ["swn:product/prod-mine", "swn:product/k*"]},
  {"Effect": "Allow", "Principal": "dave", "Action": "stackwave:LaunchProduct", "Resource": ["swn:product/*", "swn:deployment/ci-*"]},
  {"Effect": "Allow", "Principal": "alice", "Action": "stackwave:*", "Resource": "*"}]}`
	for name, az := range map[string]auth.Authorizer{"policy": mustPolicy(t, policy), "custom": createRules{}} {
		t.Run(name, func(t *testing.T) {
			h, _ := newDenyHarness(t, az) // product "keep" (prod-keep), version pv-keep, deployment ci-1
			if _, err := h.st.CreateProduct(context.Background(), &product.Product{ID: "prod-mine", Name: "mine", ProviderName: "tests"}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				what, path, body, taken, refused string
			}{
				{"product", "/api/products", doc, "keep", "zed"},
				{"rename", "/api/products/prod-mine", `{"product_name": "{N}"}`, "keep", "zed"},
				{"deployment", "/api/deployments", `{"name": "{N}", "product_version_id": "pv-keep"}`, "ci-1", "qa-1"},
			} {
				method := "POST"
				if tc.what == "rename" {
					method = "PATCH"
				}
				taken := h.do(method, tc.path, strings.ReplaceAll(tc.body, "{N}", tc.taken), "Authorization", dave)
				refused := h.do(method, tc.path, strings.ReplaceAll(tc.body, "{N}", tc.refused), "Authorization", dave)
				if taken.status != 403 || refused.status != 403 {
					t.Fatalf("%s: taken: %s\nrefused: %s\nwant 403 for both", tc.what, taken, refused)
				}
				if a, b := normal(taken.body, map[string]string{"{N}": tc.taken}), normal(refused.body, map[string]string{"{N}": tc.refused}); a != b {
					t.Errorf("%s: a taken name answers unlike a refused one:\n%s\n%s", tc.what, a, b)
				}
				for _, leak := range []string{"exist", "prod-keep", "Available", "status", "taken"} {
					if strings.Contains(string(taken.body), leak) {
						t.Errorf("%s: the answer shows %q: %s", tc.what, leak, taken)
					}
				}
				// The product document is the one the stored product was
				// made from: without the check it would answer that
				// product's IDs. For a caller who may see it, another
				// document under the name is a duplicate.
				other := strings.Replace(tc.body, `"1.27"`, `"1.28"`, 1)
				seen := h.do(method, tc.path, strings.ReplaceAll(other, "{N}", tc.taken), "Authorization", alice)
				if seen.status/100 != 4 || seen.status == 403 || !strings.Contains(string(seen.body), "already exists") {
					t.Errorf("%s: a caller who may see it: %s", tc.what, seen)
				}
			}
			if log := h.log.String(); !strings.Contains(log, "is taken by a resource dave may not see") {
				t.Errorf("the audit log lacks the reason:\n%s", log)
			}
		})
	}
}
