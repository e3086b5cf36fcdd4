package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api/auth"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "swn:product/prod-1", true},
		{"swn:product/*", "swn:product/prod-1", true},
		{"swn:product/*", "swn:product/", true},
		{"swn:product/*", "swn:version/pv-1", false},
		{"swn:*/prod-1", "swn:product/prod-1", true},
		{"swn:deployment/prod-*", "swn:deployment/prod-eu", true},
		{"swn:deployment/prod-*", "swn:deployment/staging", false},
		{"swn:deployment/db-?", "swn:deployment/db-1", true},
		{"swn:deployment/db-?", "swn:deployment/db-12", false},
		{"swn:deployment/db-?", "swn:deployment/db-", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*b", "abab", true},
		{"a**", "a", true},
		{"", "", true},
		{"", "x", false},
		{"exact", "exact", true},
		{"exact", "Exact", false},
	}
	for _, tc := range tests {
		if got := auth.Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

const policyDoc = `{"Statement": [
  {"Sid": "Read", "Effect": "Allow", "Principal": "*",
   "Action": ["stackwave:Get*", "stackwave:List*"], "Resource": "swn:product/*"},
  {"Sid": "Admins", "Effect": "Allow", "Principal": "group:admins", "Action": "stackwave:*", "Resource": "*"},
  {"Effect": "Allow", "Principal": ["ci"], "Action": "stackwave:LaunchProduct", "Resource": ["swn:deployment/ci-*", "swn:product/*"]},
  {"Sid": "KeepProd", "Effect": "Deny", "Principal": "*",
   "Action": "stackwave:DeleteProduct", "Resource": "swn:product/prod-keep"},
  {"Effect": "Deny", "Principal": "mallory", "Action": "*", "Resource": "*"}
]}`

func TestPolicy(t *testing.T) {
	p, err := auth.ParsePolicy([]byte(policyDoc))
	if err != nil {
		t.Fatal(err)
	}
	alice := &auth.Principal{Name: "alice", Groups: []string{"admins"}}
	bob := &auth.Principal{Name: "bob"}
	ci := &auth.Principal{Name: "ci", Groups: []string{"robots"}}
	mallory := &auth.Principal{Name: "mallory", Groups: []string{"admins"}}
	tests := []struct {
		who              *auth.Principal
		action, resource string
		deniedBy         string // "" allowed, "-" implicitly denied, else the statement
	}{
		{alice, "stackwave:DeleteProduct", "swn:product/prod-1", ""},
		{alice, "stackwave:DeleteProduct", "swn:product/prod-keep", "KeepProd"},
		{alice, "stackwave:TerminateDeployment", "swn:deployment/web", ""},
		{bob, "stackwave:GetProduct", "swn:product/prod-1", ""},
		{bob, "stackwave:getproduct", "swn:product/prod-1", ""}, // actions ignore case
		{bob, "stackwave:ListProducts", "swn:product/*", ""},
		{bob, "stackwave:GetDeployment", "swn:deployment/web", "-"},
		{bob, "stackwave:DeleteProduct", "swn:product/prod-1", "-"},
		{bob, "stackwave:GetProduct", "SWN:PRODUCT/prod-1", "-"}, // resources do not
		{nil, "stackwave:GetProduct", "swn:product/prod-1", ""},  // "*" takes anonymous callers
		{nil, "stackwave:CreateProduct", "swn:product/*", "-"},
		{ci, "stackwave:LaunchProduct", "swn:deployment/ci-42", ""},
		{ci, "stackwave:LaunchProduct", "swn:deployment/prod", "-"},
		{ci, "stackwave:UpdateDeployment", "swn:deployment/ci-42", "-"},
		{mallory, "stackwave:GetProduct", "swn:product/prod-1", "#4"},
	}
	for _, tc := range tests {
		err := p.Authorize(context.Background(), tc.who, tc.action, tc.resource)
		name := auth.AnonymousName
		if tc.who != nil {
			name = tc.who.Name
		}
		if tc.deniedBy == "" {
			if err != nil {
				t.Errorf("%s %s %s: %v", name, tc.action, tc.resource, err)
			}
			continue
		}
		var de *auth.DeniedError
		if !errors.As(err, &de) || !errors.Is(err, auth.ErrDenied) {
			t.Errorf("%s %s %s: got %v, want a denial", name, tc.action, tc.resource, err)
			continue
		}
		want := tc.deniedBy
		if want == "-" {
			want = ""
		}
		if de.Statement != want || de.Principal != name || de.Action != tc.action || de.Resource != tc.resource {
			t.Errorf("%s %s %s: denial %+v, want statement %q", name, tc.action, tc.resource, de, want)
		}
	}
}

func TestPolicyDeniedMessage(t *testing.T) {
	p, _ := auth.ParsePolicy([]byte(policyDoc))
	err := p.Authorize(context.Background(), &auth.Principal{Name: "bob"}, "stackwave:DeleteProduct", "swn:product/prod-keep")
	want := "bob may not perform stackwave:DeleteProduct on swn:product/prod-keep: denied by statement KeepProd"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	err = p.Authorize(context.Background(), &auth.Principal{Name: "bob"}, "stackwave:DeleteProduct", "swn:product/x")
	if want := "bob may not perform stackwave:DeleteProduct on swn:product/x: no statement allows it"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"Statement": []}`, "must list at least one statement"},
		{`{}`, "must list at least one statement"},
		{`{"Statements": []}`, `Statements`},
		{`{"Statement": [{"Effect": "allow", "Principal": "*", "Action": "*", "Resource": "*"}]}`, `Statement[0]: Effect: want "Allow" or "Deny", got "allow"`},
		{`{"Statement": [{"Sid": "x", "Effect": "Allow", "Action": "*", "Resource": "*"}]}`, `Statement[0] (x): Principal: must not be empty`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "GetProduct", "Resource": "*"}]}`, `Action: "GetProduct": want`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "product/*"}]}`, `Resource: "product/*": want`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "al*", "Action": "*", "Resource": "*"}]}`, `Principal: "al*": want`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "group:", "Action": "*", "Resource": "*"}]}`, `Principal: "group:": want`},
		{`{"Statement": [{"Effect": "Allow", "Principal": 3, "Action": "*", "Resource": "*"}]}`, `Statement[0].Principal: want a string or an array of strings`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {}}]}`, `Condition`},
		{`{"Statement": [`, "line 1"},
	}
	for _, tc := range tests {
		_, err := auth.ParsePolicy([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant it to contain %q", tc.doc, err, tc.want)
		}
	}
}

func TestTokens(t *testing.T) {
	const file = `# tokens
0123456789abcdef-alice alice admins ops

0123456789abcdef-bob   bob
`
	toks, err := auth.ParseTokens(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if toks.Len() != 2 {
		t.Errorf("Len = %d", toks.Len())
	}
	tests := []struct {
		header string
		want   string // principal and groups, or "" for ErrUnauthenticated
	}{
		{"Bearer 0123456789abcdef-alice", "alice [admins ops]"},
		{"bearer 0123456789abcdef-bob", "bob []"},
		{"Bearer  0123456789abcdef-bob ", "bob []"},
		{"", ""},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Basic YWxpY2U6eA==", ""},
		{"Bearer 0123456789abcdef-carol", ""},
		{"Bearer 0123456789abcdef-alice x", ""},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/api/products", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		p, err := toks.Authenticate(r)
		if tc.want == "" {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("%q: got %v, %v; want ErrUnauthenticated", tc.header, p, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.header, err)
			continue
		}
		if got := fmt.Sprintf("%s %v", p.Name, p.Groups); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.header, got, tc.want)
		}
	}
	// Callers get copies.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer 0123456789abcdef-alice")
	p, _ := toks.Authenticate(r)
	p.Groups[0] = "root"
	p, _ = toks.Authenticate(r)
	if p.Groups[0] != "admins" {
		t.Errorf("a caller changed the token file's groups: %v", p.Groups)
	}
}

func TestParseTokensErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"short alice\n", "line 1: token of alice is shorter than 16 characters"},
		{"# c\n0123456789abcdef\n", "line 2: want TOKEN PRINCIPAL [GROUP...]"},
		{"0123456789abcdef a\n0123456789abcdef b\n", "line 2: token of b is given twice"},
	}
	for _, tc := range tests {
		_, err := auth.ParseTokens(strings.NewReader(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.file, err, tc.want)
		}
	}
}
