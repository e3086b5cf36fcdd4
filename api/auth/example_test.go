package auth_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/stackwave/stackwave/api/auth"
)

// Tokens name the caller; the policy decides. An explicit Deny wins over
// any Allow, and what no statement allows is denied.
func Example() {
	tokens, err := auth.ParseTokens(strings.NewReader(`
# token                  principal  groups
5rX8mQ2vK9pL3wN7tY1z     alice      admins
h4Jd8Ks2Lq9Wm3Nx7Vb1     bob
`))
	if err != nil {
		panic(err)
	}
	policy, err := auth.ParsePolicy([]byte(`{"Statement": [
  {"Sid": "Admins", "Effect": "Allow", "Principal": "group:admins", "Action": "stackwave:*", "Resource": "*"},
  {"Sid": "Read", "Effect": "Allow", "Principal": "*", "Action": ["stackwave:Get*", "stackwave:List*"], "Resource": "swn:product/*"},
  {"Sid": "KeepProd", "Effect": "Deny", "Principal": "*", "Action": "stackwave:TerminateDeployment", "Resource": "swn:deployment/prod-*"}
]}`))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, tc := range []struct{ token, action, resource string }{
		{"5rX8mQ2vK9pL3wN7tY1z", "stackwave:DeleteProduct", "swn:product/prod-0123456789abcdef"},
		{"5rX8mQ2vK9pL3wN7tY1z", "stackwave:TerminateDeployment", "swn:deployment/prod-eu"},
		{"h4Jd8Ks2Lq9Wm3Nx7Vb1", "stackwave:GetProduct", "swn:product/prod-0123456789abcdef"},
		{"h4Jd8Ks2Lq9Wm3Nx7Vb1", "stackwave:LaunchProduct", "swn:deployment/web"},
		{"not-a-token-at-all-xx", "stackwave:GetProduct", "swn:product/prod-0123456789abcdef"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tc.token)
		p, err := tokens.Authenticate(r)
		if err != nil {
			fmt.Println(err)
			continue
		}
		if err := policy.Authorize(ctx, p, tc.action, tc.resource); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(p.Name, "may perform", tc.action, "on", tc.resource)
	}
	// Output:
	// alice may perform stackwave:DeleteProduct on swn:product/prod-0123456789abcdef
	// alice may not perform stackwave:TerminateDeployment on swn:deployment/prod-eu: denied by statement KeepProd
	// bob may perform stackwave:GetProduct on swn:product/prod-0123456789abcdef
	// bob may not perform stackwave:LaunchProduct on swn:deployment/web: no statement allows it
	// unauthenticated: invalid token
}
