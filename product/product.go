// Package product holds the catalog model of stackwave: the product
// document control planes send (a product name and its stack_deps, with
// optional catalog fields), the catalogued Product and its immutable
// Versions, and the decoder that reads documents in JSON or YAML.
//
// Decode returns an error matching ErrInvalidArgs when a document cannot be
// decoded; checking a decoded document against the rules is the job of
// package validate. A decoded document is the normalised spec: what
// stackwave stores, hashes and returns, whichever of the accepted forms it
// was written in.
package product

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/stackwave/stackwave/stack"
)

// Document is a product as control planes send it: the product name and
// its stack_deps, plus optional catalog fields for the product and for its
// first version.
type Document struct {
	Name      string     `json:"product_name"`
	StackDeps stack.Deps `json:"stack_deps,omitempty"`
	// TemplateURL references a stored stack_deps template instead of
	// carrying StackDeps inline.
	TemplateURL string `json:"template_url,omitempty"`

	ProviderName string            `json:"provider_name,omitempty"`
	Description  string            `json:"description,omitempty"`
	ProductType  string            `json:"product_type,omitempty"`
	Visibility   Visibility        `json:"visibility,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`

	VersionName        string   `json:"version_name,omitempty"`
	VersionDescription string   `json:"version_description,omitempty"`
	Guidance           Guidance `json:"guidance,omitempty"`
	Active             *bool    `json:"active,omitempty"`

	// Shorthands lists the services the document wrote in a shorthand
	// form that Decode normalises (envs as an object, a single
	// access_point), so that package validate names their fields as the
	// user wrote them. Decode sets it; it is not part of the product and
	// is never stored.
	Shorthands Shorthands `json:"-"`
}

// Visibility says who may see a product.
type Visibility string

// Visibilities.
const (
	Private Visibility = "private"
	Public  Visibility = "public"
)

// Guidance tells users which version to choose.
type Guidance string

// Guidances.
const (
	GuidanceDefault     Guidance = "Default"
	GuidanceRecommended Guidance = "Recommended"
	GuidanceLatest      Guidance = "Latest"
	GuidanceDeprecated  Guidance = "Deprecated"
)

// Product is a catalogued product. Its ID never changes; Name is unique in
// a catalog.
type Product struct {
	ID           string            `json:"product_id"`
	Name         string            `json:"product_name"`
	ProviderName string            `json:"provider_name"`
	Description  string            `json:"description,omitempty"`
	ProductType  string            `json:"product_type,omitempty"`
	Visibility   Visibility        `json:"visibility"`
	Tags         map[string]string `json:"tags,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	// Revision increases with every change; stores use it for optimistic
	// concurrency.
	Revision int64 `json:"revision"`
}

// Version is one immutable spec of a product. Only Guidance, Active and
// Description change after creation.
type Version struct {
	ID          string     `json:"product_version_id"`
	ProductID   string     `json:"product_id"`
	Name        string     `json:"version_name"`
	Description string     `json:"description,omitempty"`
	Guidance    Guidance   `json:"guidance"`
	Active      bool       `json:"active"`
	StackDeps   stack.Deps `json:"stack_deps,omitempty"`
	// TemplateURL is set when the spec was taken from a stored template.
	TemplateURL string `json:"template_url,omitempty"`
	// ContentHash is Hash(StackDeps): equal specs have equal hashes.
	ContentHash string    `json:"content_hash"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Revision    int64     `json:"revision"`
}

// Hash returns "sha256:" and the hex SHA-256 of the canonical JSON form of
// deps, so identical specs are recognisable however they were written
// (envs as an object or a list, one access point or a list).
func Hash(deps stack.Deps) string {
	b, err := json.Marshal(deps)
	if err != nil { // stack types always marshal
		panic("product: marshal stack_deps: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ID prefixes.
const (
	ProductIDPrefix  = "prod-"
	VersionIDPrefix  = "pv-"
	TemplateIDPrefix = "tpl-"
)

// IsID reports whether s has the shape of a product, version or
// template ID: one of the prefixes and 16 lower-case letters and digits.
// Product names must not, or a lookup by ID or name could find another
// product than the one named.
func IsID(s string) bool {
	for _, p := range [...]string{ProductIDPrefix, VersionIDPrefix, TemplateIDPrefix} {
		rest, ok := strings.CutPrefix(s, p)
		if !ok || len(rest) != 16 {
			continue
		}
		all := true
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			all = all && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z')
		}
		if all {
			return true
		}
	}
	return false
}

// NewProductID returns a new random product ID ("prod-" and 16 random
// lower-case characters).
func NewProductID() string { return ProductIDPrefix + randomSuffix() }

// NewVersionID returns a new random version ID ("pv-" ...).
func NewVersionID() string { return VersionIDPrefix + randomSuffix() }

// NewTemplateID returns a new random template ID ("tpl-" ...).
func NewTemplateID() string { return TemplateIDPrefix + randomSuffix() }

const idAlphabet = "0123456789abcdefghijklmnopqrstuv" // 32 symbols

func randomSuffix() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return string(b[:])
}
