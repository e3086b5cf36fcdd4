package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Policy authorizes actions by statements, as cloud catalogs do:
//
//	{"Statement": [
//	  {"Sid": "Read", "Effect": "Allow", "Principal": "*",
//	   "Action": ["stackwave:Get*", "stackwave:List*"], "Resource": "*"},
//	  {"Sid": "Deployers", "Effect": "Allow", "Principal": "group:deployers",
//	   "Action": "stackwave:*", "Resource": "swn:deployment/*"},
//	  {"Sid": "KeepProd", "Effect": "Deny", "Principal": "*",
//	   "Action": ["stackwave:TerminateDeployment", "stackwave:DeleteDeployment"],
//	   "Resource": "swn:deployment/prod-*"}
//	]}
//
// An action on a resource is allowed when a statement with Effect "Allow"
// matches it and no statement with Effect "Deny" does: an explicit Deny
// wins, and what no statement allows is denied.
//
// A statement matches when one of each of its Principal, Action and
// Resource patterns matches. Principal, Action and Resource are a string
// or a list of strings. Principal patterns are "*" (every caller,
// anonymous ones too), a principal's name, or "group:NAME". Action and
// resource patterns may use '*' (any run of characters, '/' included) and
// '?' (one character); actions compare without regard to case
// ("stackwave:get*" matches "stackwave:GetProduct"), resources with it.
//
// A Policy is immutable once parsed and safe for concurrent use.
type Policy struct {
	Statements []Statement `json:"Statement"`
}

var _ Authorizer = (*Policy)(nil)

// Statement is one rule of a Policy.
type Statement struct {
	// Sid names the statement in denials and logs; optional.
	Sid       string `json:"Sid,omitempty"`
	Effect    Effect `json:"Effect"`
	Principal List   `json:"Principal"`
	Action    List   `json:"Action"`
	Resource  List   `json:"Resource"`
}

// Effect is what a matching statement decides.
type Effect string

// Effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// List is a list of patterns, written in JSON as one string or an array
// of strings.
type List []string

// UnmarshalJSON reads a string or an array of strings.
func (l *List) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = List{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or an array of strings")
	}
	*l = many
	return nil
}

// ParsePolicy reads a policy document. Unknown fields, fields given twice
// or in another case, invalid UTF-8, an Effect other than "Allow" or
// "Deny", and a statement without principals, actions or resources are
// errors naming the statement and field.
func ParsePolicy(data []byte) (*Policy, error) {
	p := new(Policy)
	if err := jsonv2.Unmarshal(data, p, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, policyError(data, err)
	}
	if len(p.Statements) == 0 {
		return nil, errors.New("policy: Statement: must list at least one statement")
	}
	for i := range p.Statements {
		s := &p.Statements[i]
		at := "policy: Statement[" + strconv.Itoa(i) + "]"
		if s.Sid != "" {
			at += " (" + s.Sid + ")"
		}
		switch s.Effect {
		case Allow, Deny:
		default:
			return nil, fmt.Errorf(`%s: Effect: want "Allow" or "Deny", got %q`, at, s.Effect)
		}
		if err := checkList(s.Principal, "Principal", func(p string) bool {
			name, _ := strings.CutPrefix(p, "group:")
			return p == "*" || (name != "" && !strings.ContainsAny(name, "*? \t"))
		}, `"*", a principal name or "group:NAME"`); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if err := checkList(s.Action, "Action", func(a string) bool {
			return a == "*" || strings.Contains(a, ":")
		}, `"*" or "service:Action", e.g. "stackwave:Get*"`); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if err := checkList(s.Resource, "Resource", func(r string) bool {
			return r == "*" || strings.Contains(r, ":")
		}, `"*" or a resource name, e.g. "swn:product/*"`); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		for k, a := range s.Action {
			s.Action[k] = strings.ToLower(a)
		}
	}
	return p, nil
}

// policyError says where a policy document could not be decoded.
func policyError(data []byte, err error) error {
	var off int64 = -1
	var ptr jsontext.Pointer
	msg := err.Error()
	var se *jsonv2.SemanticError
	var sy *jsontext.SyntacticError
	switch {
	case errors.As(err, &sy):
		off, ptr = sy.ByteOffset, sy.JSONPointer
		msg = sy.Err.Error()
	case errors.As(err, &se):
		off, ptr = se.ByteOffset, se.JSONPointer
		switch {
		case errors.Is(se.Err, jsonv2.ErrUnknownName):
			msg = "unknown field " + strconv.Quote(ptr.LastToken())
		case se.Err != nil:
			msg = se.Err.Error()
		default:
			msg = "wrong type"
		}
	}
	where := "policy"
	if off >= 0 {
		prefix := data[:min(off, int64(len(data)))]
		line := strings.Count(string(prefix), "\n") + 1
		col := len(prefix) - strings.LastIndexByte(string(prefix), '\n')
		where = fmt.Sprintf("policy: line %d, column %d", line, col)
	}
	if path := pointerPath(ptr); path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%s: %s", where, msg)
}

// pointerPath writes a JSON pointer of a policy as Statement[0].Principal.
func pointerPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func checkList(l List, field string, ok func(string) bool, want string) error {
	if len(l) == 0 {
		return fmt.Errorf("%s: must not be empty (use \"*\" for every one)", field)
	}
	for _, v := range l {
		if !ok(v) {
			return fmt.Errorf("%s: %q: want %s", field, v, want)
		}
	}
	return nil
}

// LoadPolicy reads a policy file (see ParsePolicy).
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Authorize allows the action when an Allow statement matches and no Deny
// statement does. A nil principal is anonymous.
func (p *Policy) Authorize(_ context.Context, pr *Principal, action, resource string) error {
	if pr == nil {
		pr = Anonymous()
	}
	lowerAction := strings.ToLower(action)
	allowed := false
	for i := range p.Statements {
		s := &p.Statements[i]
		if !s.matches(pr, lowerAction, resource) {
			continue
		}
		if s.Effect == Deny {
			id := s.Sid
			if id == "" {
				id = "#" + strconv.Itoa(i)
			}
			return &DeniedError{Principal: pr.Name, Action: action, Resource: resource, Statement: id}
		}
		allowed = true
	}
	if !allowed {
		return &DeniedError{Principal: pr.Name, Action: action, Resource: resource, Reason: NoStatementAllows}
	}
	return nil
}

// Refuse returns the refusal of a policy that no statement of which
// allows the action: the API's answer to a name taken by a resource the
// caller may not see.
func (p *Policy) Refuse(_ context.Context, pr *Principal, action, resource string) error {
	if pr == nil {
		pr = Anonymous()
	}
	return &DeniedError{Principal: pr.Name, Action: action, Resource: resource, Reason: NoStatementAllows}
}

var _ Refuser = (*Policy)(nil)

// matches reports whether the statement applies; action is lower case.
func (s *Statement) matches(pr *Principal, action, resource string) bool {
	return slices.ContainsFunc(s.Principal, func(p string) bool { return principalMatch(p, pr) }) &&
		slices.ContainsFunc(s.Action, func(a string) bool { return Match(a, action) }) &&
		slices.ContainsFunc(s.Resource, func(r string) bool { return Match(r, resource) })
}

func principalMatch(pattern string, pr *Principal) bool {
	if pattern == "*" {
		return true
	}
	if g, ok := strings.CutPrefix(pattern, "group:"); ok {
		return slices.Contains(pr.Groups, g)
	}
	return pattern == pr.Name
}

// Match reports whether s matches pattern, in which '*' stands for any
// run of characters ('/' included) and '?' for any one character. The
// comparison is case-sensitive.
func Match(pattern, s string) bool {
	// Greedy matching with backtracking to the last star: linear in
	// practice, O(len(pattern)*len(s)) at worst.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
