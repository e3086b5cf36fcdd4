// Package check holds the input rules every store driver applies before it
// touches its records, so that the drivers agree on what is invalid and
// name the same field in the same words.
package check

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// MaxKeyLength bounds IDs, owners and other keys.
const MaxKeyLength = 128

// MaxTextLength bounds free texts that validate does not bound (messages,
// parameters).
const MaxTextLength = 64 << 10

// FromValidate turns a validate error into a *store.InvalidError naming
// its first problem and wrapping the whole list. Other errors are
// returned as they are.
func FromValidate(err error) error {
	var ve *validate.Error
	if !errors.As(err, &ve) || len(ve.Errors) == 0 {
		return err
	}
	first := ve.Errors[0]
	detail := first.Detail
	if first.Type != "" {
		detail = first.Type.String() + ": " + detail
	}
	if n := len(ve.Errors) - 1; n > 0 {
		detail += " (and " + strconv.Itoa(n) + " more problems)"
	}
	return &store.InvalidError{Field: first.Field, Value: first.BadValue, Detail: detail, Err: err}
}

// Text reports whether s may be stored in every driver: valid UTF-8
// without NUL, at most max bytes.
func Text(field, s string, max int) error {
	if len(s) > max {
		return store.Invalid(field, abbrev(s), "must be at most "+strconv.Itoa(max)+" bytes, got "+strconv.Itoa(len(s)))
	}
	if !utf8.ValidString(s) {
		return store.Invalid(field, abbrev(s), "must be valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return store.Invalid(field, abbrev(s), "must not contain NUL")
	}
	return nil
}

// Key checks an ID, owner or other key: 1 to MaxKeyLength bytes of
// printable UTF-8.
func Key(field, s string) error {
	if s == "" {
		return store.Invalid(field, s, "must not be empty")
	}
	if err := Text(field, s, MaxKeyLength); err != nil {
		return err
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return store.Invalid(field, s, "must not contain control characters")
		}
	}
	return nil
}

// OptionalKey is Key for a key that may be empty.
func OptionalKey(field, s string) error {
	if s == "" {
		return nil
	}
	return Key(field, s)
}

// Name checks a product name used for a lookup.
func Name(field, s string) error {
	if err := Key(field, s); err != nil {
		return err
	}
	if utf8.RuneCountInString(s) > validate.MaxNameLength {
		return store.Invalid(field, abbrev(s), "must be at most "+strconv.Itoa(validate.MaxNameLength)+" characters")
	}
	return nil
}

// DeploymentName checks a deployment name: a DNS-1123 label.
func DeploymentName(field, s string) error {
	if fe := validate.DNSLabel(field, s); fe != nil {
		return &store.InvalidError{Field: fe.Field, Value: abbrev(s), Detail: fe.Detail, Err: fe}
	}
	return nil
}

// Product checks a product record given to CreateProduct or
// UpdateProduct.
func Product(p *product.Product) error {
	if p == nil {
		return store.Invalid("product", nil, "must not be nil")
	}
	if err := OptionalKey("product_id", p.ID); err != nil {
		return err
	}
	return FromValidate(validate.Product(p))
}

// Version checks a version record given to CreateVersion.
func Version(v *product.Version, opts *validate.Options) error {
	if v == nil {
		return store.Invalid("product_version", nil, "must not be nil")
	}
	if err := OptionalKey("product_version_id", v.ID); err != nil {
		return err
	}
	if err := Key("product_id", v.ProductID); err != nil {
		return err
	}
	if v.TemplateURL != "" {
		if _, err := TemplateID("template_url", v.TemplateURL); err != nil {
			return err
		}
	}
	return FromValidate(validate.Version(v, opts))
}

// VersionUpdate checks an UpdateVersion argument; Immutable then compares
// it with the stored version.
func VersionUpdate(v *product.Version) error {
	if v == nil {
		return store.Invalid("product_version", nil, "must not be nil")
	}
	if err := Key("product_version_id", v.ID); err != nil {
		return err
	}
	switch v.Guidance {
	case "", product.GuidanceDefault, product.GuidanceRecommended, product.GuidanceLatest, product.GuidanceDeprecated:
	default:
		return store.Invalid("guidance", string(v.Guidance), `supported values: "Default", "Recommended", "Latest", "Deprecated"`)
	}
	return description("description", v.Description)
}

func description(field, s string) error {
	if err := Text(field, s, validate.MaxDescriptionLength*4); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(s); n > validate.MaxDescriptionLength {
		return store.Invalid(field, abbrev(s), "must be at most "+strconv.Itoa(validate.MaxDescriptionLength)+" characters, got "+strconv.Itoa(n))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return store.Invalid(field, abbrev(s), "must not contain control characters")
		}
	}
	return nil
}

// Immutable reports an ErrInvalid when v changes a field of the stored
// version old other than Guidance, Active and Description. Empty fields
// of v are taken to mean "unchanged".
func Immutable(old, v *product.Version) error {
	switch {
	case v.ProductID != "" && v.ProductID != old.ProductID:
		return store.Invalid("product_id", v.ProductID, "is immutable")
	case v.Name != "" && v.Name != old.Name:
		return store.Invalid("version_name", v.Name, "is immutable")
	case v.TemplateURL != "" && v.TemplateURL != old.TemplateURL:
		return store.Invalid("template_url", v.TemplateURL, "is immutable")
	case v.ContentHash != "" && v.ContentHash != old.ContentHash:
		return store.Invalid("content_hash", v.ContentHash, "is immutable")
	case len(v.StackDeps) > 0 && product.Hash(v.StackDeps) != old.ContentHash:
		return store.Invalid("stack_deps", nil, "is immutable: create a new version")
	}
	return nil
}

// Template checks a template given to CreateTemplate.
func Template(t *store.Template, opts *validate.Options) error {
	if t == nil {
		return store.Invalid("template", nil, "must not be nil")
	}
	if t.ID != "" {
		if _, err := TemplateID("template_id", t.ID); err != nil {
			return err
		}
	}
	if t.URL != "" && t.ID != "" && t.URL != store.TemplateURLPrefix+t.ID {
		return store.Invalid("template_url", t.URL, "must be "+store.TemplateURLPrefix+t.ID+" or empty")
	}
	if err := description("description", t.Description); err != nil {
		return err
	}
	return FromValidate(validate.Deps(t.StackDeps, opts))
}

// TemplateID returns the template ID of a template ID or URL.
func TemplateID(field, idOrURL string) (string, error) {
	if err := Key(field, idOrURL); err != nil {
		return "", err
	}
	id := strings.TrimPrefix(idOrURL, store.TemplateURLPrefix)
	if !strings.HasPrefix(id, product.TemplateIDPrefix) || len(id) == len(product.TemplateIDPrefix) || strings.ContainsAny(id, "/?#") {
		return "", store.Invalid(field, idOrURL, "must be a template ID (tpl-...) or URL ("+store.TemplateURLPrefix+"tpl-...)")
	}
	return id, nil
}

// Page returns the page and page size a query asks for.
func Page(q store.ProductQuery) (page, size int, err error) {
	page, size = q.Page, q.PageSize
	if page < 0 {
		return 0, 0, store.Invalid("page", page, "must be 1 or more (0 means 1)")
	}
	if page == 0 {
		page = 1
	}
	if size < 0 || size > store.MaxPageSize {
		return 0, 0, store.Invalid("page_size", size, "must be between 1 and "+strconv.Itoa(store.MaxPageSize)+" (0 means "+strconv.Itoa(store.DefaultPageSize)+")")
	}
	if size == 0 {
		size = store.DefaultPageSize
	}
	if page > (1<<31)/size {
		return 0, 0, store.Invalid("page", page, "is too large")
	}
	if q.Name != "" {
		if err := Name("product_name", q.Name); err != nil {
			return 0, 0, err
		}
	}
	if err := Text("text", q.Text, validate.MaxNameLength*4); err != nil {
		return 0, 0, err
	}
	return page, size, nil
}

// SearchText is what ProductQuery.Text is matched against: the name,
// provider name and description, lower-cased, one per line. Drivers store
// it so that every driver folds case the same way.
func SearchText(p *product.Product) string {
	return strings.ToLower(p.Name) + "\n" + strings.ToLower(p.ProviderName) + "\n" + strings.ToLower(p.Description)
}

// SearchQuery is the lower-cased form of ProductQuery.Text.
func SearchQuery(text string) string { return strings.ToLower(text) }

// Deployment checks a deployment record given to CreateDeployment or
// UpdateDeployment.
func Deployment(d *store.Deployment) error {
	if d == nil {
		return store.Invalid("deployment", nil, "must not be nil")
	}
	if err := DeploymentName("name", d.Name); err != nil {
		return err
	}
	if err := Key("product_id", d.ProductID); err != nil {
		return err
	}
	if err := Key("product_version_id", d.VersionID); err != nil {
		return err
	}
	if err := OptionalKey("target_version_id", d.TargetVersionID); err != nil {
		return err
	}
	if err := Text("runtime", d.Runtime, MaxKeyLength); err != nil {
		return err
	}
	switch d.Status {
	case "", store.StatusUnderChange, store.StatusAvailable, store.StatusError, store.StatusTainted, store.StatusTerminated:
	default:
		return store.Invalid("status", string(d.Status), `supported values: "UnderChange", "Available", "Error", "Tainted", "Terminated"`)
	}
	for k, v := range d.Parameters {
		if err := Key("parameters", k); err != nil {
			return err
		}
		if err := Text("parameters."+k, v, MaxTextLength); err != nil {
			return err
		}
	}
	for i := range d.Stacks {
		s := &d.Stacks[i]
		f := "stacks[" + strconv.Itoa(i) + "]"
		if err := Key(f+".stack_name", s.Name); err != nil {
			return err
		}
		for _, t := range [...]struct{ field, s string }{
			{".state", s.State}, {".config_hash", s.ConfigHash}, {".message", s.Message},
		} {
			if err := Text(f+t.field, t.s, MaxTextLength); err != nil {
				return err
			}
		}
		if err := jsonTime(f+".updated_at", s.UpdatedAt); err != nil {
			return err
		}
	}
	for i := range d.Operations {
		if err := Operation("operations["+strconv.Itoa(i)+"]", &d.Operations[i]); err != nil {
			return err
		}
	}
	return nil
}

// Operation checks one entry of a deployment's history.
func Operation(f string, op *store.Operation) error {
	if err := Key(f+".operation_id", op.ID); err != nil {
		return err
	}
	switch op.Type {
	case store.OpLaunch, store.OpUpdate, store.OpTerminate, store.OpRestart, store.OpStop, store.OpStart, store.OpScale:
	default:
		return store.Invalid(f+".type", string(op.Type), "not a known operation type")
	}
	switch op.Status {
	case store.OpInProgress, store.OpSucceeded, store.OpFailed:
	default:
		return store.Invalid(f+".status", string(op.Status), `supported values: "InProgress", "Succeeded", "Failed"`)
	}
	for _, t := range [...]struct{ field, s string }{
		{".from_version_id", op.FromVersionID}, {".to_version_id", op.ToVersionID},
		{".policy", op.Policy}, {".stack_name", op.Stack}, {".service_name", op.Service},
		{".owner", op.Owner}, {".message", op.Message},
	} {
		if err := Text(f+t.field, t.s, MaxTextLength); err != nil {
			return err
		}
	}
	if err := jsonTime(f+".started_at", op.StartedAt); err != nil {
		return err
	}
	return jsonTime(f+".ended_at", op.EndedAt)
}

// jsonTime refuses times encoding/json cannot write (years outside 0 to
// 9999).
func jsonTime(field string, t time.Time) error {
	if y := t.Year(); y < 0 || y > 9999 {
		return store.Invalid(field, t.String(), "year must be between 0 and 9999")
	}
	return nil
}

// TrimOperations keeps the newest max operations.
func TrimOperations(ops []store.Operation, max int) []store.Operation {
	if len(ops) > max {
		return ops[len(ops)-max:]
	}
	return ops
}

// Events checks events given to AppendEvents.
func Events(events []store.Event) error {
	for i := range events {
		if err := event(&events[i]); err != nil {
			// Paths are built only for the event at fault: logs are
			// appended in batches of thousands.
			var ie *store.InvalidError
			if errors.As(err, &ie) {
				ie.Field = "events[" + strconv.Itoa(i) + "]." + ie.Field
			}
			return err
		}
	}
	return nil
}

func event(e *store.Event) error {
	if err := Key("operation_id", e.OperationID); err != nil {
		return err
	}
	if err := Key("type", e.Type); err != nil {
		return err
	}
	if err := Text("stack_name", e.Stack, MaxTextLength); err != nil {
		return err
	}
	if err := Text("service_name", e.Service, MaxTextLength); err != nil {
		return err
	}
	if err := Text("message", e.Message, MaxTextLength); err != nil {
		return err
	}
	if y := e.Time.Year(); !e.Time.IsZero() && (y < 1900 || y > 9999) {
		return store.Invalid("time", e.Time.String(), "year must be between 1900 and 9999")
	}
	return nil
}

// EventQuery checks a ListEvents query.
func EventQuery(q store.EventQuery) error {
	if err := OptionalKey("operation_id", q.OperationID); err != nil {
		return err
	}
	if q.AfterSeq < 0 {
		return store.Invalid("after_seq", q.AfterSeq, "must not be negative")
	}
	if q.Limit < 0 {
		return store.Invalid("limit", q.Limit, "must not be negative (0 means all)")
	}
	return nil
}

// Lease checks the arguments of AcquireLease.
func Lease(deployment, owner string, ttl time.Duration) error {
	if err := DeploymentName("deployment", deployment); err != nil {
		return err
	}
	if err := Key("owner", owner); err != nil {
		return err
	}
	if ttl <= 0 {
		return store.Invalid("ttl", ttl.String(), "must be positive")
	}
	if ttl > 100*365*24*time.Hour {
		return store.Invalid("ttl", ttl.String(), "must be at most 100 years")
	}
	return nil
}

// VersionBelongs returns ErrNotFound for a version that is not one of
// productID's.
func VersionBelongs(field, versionID, versionProduct, productID string) error {
	if versionProduct != productID {
		return fmt.Errorf("%s %q of product %q: %w", field, versionID, productID, store.ErrNotFound)
	}
	return nil
}

// abbrev shortens long values in error messages.
func abbrev(s string) string {
	if len(s) > 80 {
		return strings.ToValidUTF8(s[:77], "") + "..."
	}
	return s
}

// DeploymentQuery checks a ListDeployments query.
func DeploymentQuery(q store.DeploymentQuery) error {
	if err := OptionalKey("product_id", q.ProductID); err != nil {
		return err
	}
	if err := OptionalKey("product_version_id", q.VersionID); err != nil {
		return err
	}
	return OptionalKey("status", string(q.Status))
}
