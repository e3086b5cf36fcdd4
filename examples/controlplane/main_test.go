package main

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stackwave/stackwave/api/auth"
)

// The example's token and policy files stay valid and say what the package
// comment promises.
func TestExampleFiles(t *testing.T) {
	tokens, err := auth.LoadTokens("tokens.txt")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := auth.LoadPolicy("policy.json")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer ops-0123456789abcdef")
	olivia, err := tokens.Authenticate(r)
	if err != nil || olivia.Name != "olivia" {
		t.Fatalf("operator token: %v, %v", olivia, err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		action, resource string
		allowed          bool
	}{
		{"stackwave:CreateProduct", "swn:product/*", true},
		{"stackwave:LaunchProduct", "swn:deployment/shop", true},
		{"stackwave:DeleteProduct", "swn:product/prod-1", false},
	} {
		err := policy.Authorize(ctx, olivia, tc.action, tc.resource)
		if tc.allowed != (err == nil) || !tc.allowed && !errors.Is(err, auth.ErrDenied) {
			t.Errorf("%s on %s: %v", tc.action, tc.resource, err)
		}
	}
}
