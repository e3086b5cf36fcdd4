// Package auth decides who calls the stackwave API and what they may do.
//
// An [Authenticator] turns a request into a [Principal]; an [Authorizer]
// decides whether a principal may perform an action (such as
// "stackwave:DeleteProduct") on a resource (such as
// "swn:product/prod-0123456789abcdef"). Both are interfaces, so control
// planes plug in their own identity provider or policy engine. Two
// implementations are built in:
//
//   - [Tokens], bearer tokens read from a file, each naming a principal
//     and its groups;
//   - [Policy], a JSON document of Allow and Deny statements with
//     wildcards, evaluated as cloud catalogs do: an explicit Deny wins
//     over any Allow, and nothing is allowed unless a statement allows it.
//
// # Errors
//
// Authenticate fails with an error matching [ErrUnauthenticated] when a
// request carries no credentials or wrong ones (the API answers 401);
// Authorize fails with an error matching [ErrDenied] (a [*DeniedError])
// when the action is not allowed (403). Any other error means the decision
// could not be made and the API answers 500.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Principal is an authenticated caller.
type Principal struct {
	// Name identifies the caller in policies ("alice") and logs.
	Name string
	// Groups the caller belongs to; policies name them as "group:NAME".
	Groups []string
}

// AnonymousName is the name of the principal of requests served without
// an Authenticator.
const AnonymousName = "anonymous"

// Anonymous returns the principal of requests served without an
// Authenticator.
func Anonymous() *Principal { return &Principal{Name: AnonymousName} }

// Authenticator identifies the caller of a request.
//
// Authenticate returns the principal making r, or an error matching
// ErrUnauthenticated when r carries no valid credentials. It may be called
// concurrently and must not read r's body.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// Authorizer decides whether a principal may perform an action on a
// resource.
//
// Authorize returns nil when the action is allowed and an error matching
// ErrDenied when it is not; any other error means no decision could be
// made (the request then fails). It may be called concurrently.
type Authorizer interface {
	Authorize(ctx context.Context, p *Principal, action, resource string) error
}

// Sentinel errors.
var (
	// ErrUnauthenticated: the request carries no credentials, or
	// credentials that identify no one.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrDenied: the principal may not perform the action on the
	// resource.
	ErrDenied = errors.New("access denied")
)

// DeniedError says why an action was denied. It matches ErrDenied. It
// reads "PRINCIPAL may not perform ACTION on RESOURCE", followed by
// ": REASON" when Reason is set, else by ": denied by statement SID"
// when Statement is. A custom authorizer sets Reason in its own words,
// or neither; the built-in Policy sets Statement, or Reason
// NoStatementAllows.
type DeniedError struct {
	Principal string
	Action    string
	Resource  string
	// Statement is the Sid (or the index, "#2") of the Deny statement
	// that denied the action.
	Statement string
	// Reason says why, in the authorizer's words.
	Reason string
}

// NoStatementAllows is the Reason of a Policy's refusal of an action that
// no statement allows.
const NoStatementAllows = "no statement allows it"

func (e *DeniedError) Error() string {
	msg := fmt.Sprintf("%s may not perform %s on %s", e.Principal, e.Action, e.Resource)
	switch {
	case e.Reason != "":
		return msg + ": " + e.Reason
	case e.Statement != "":
		return msg + ": denied by statement " + e.Statement
	}
	return msg
}

// Is reports whether target is ErrDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Refuser is an Authorizer that words the refusals the API makes on its
// behalf. The API answers a create, rename or launch under a name taken
// by a resource the caller may not see as the authorizer would refuse
// the action on that name, so that the answer tells nothing of what
// exists; it asks Refuse for that refusal, which must match ErrDenied,
// and answers it as it answers the authorizer's own. The built-in Policy
// is one. Of an Authorizer that is not, the API answers a *DeniedError
// with neither Statement nor Reason.
type Refuser interface {
	Authorizer
	// Refuse returns the error Authorize would return if it refused p
	// the action on resource.
	Refuse(ctx context.Context, p *Principal, action, resource string) error
}
