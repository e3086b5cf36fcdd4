package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/validate"
)

// maxKeyLength bounds IDs, owners and other keys.
const maxKeyLength = 128

// maxTextLength bounds free texts that validate does not bound (messages,
// parameters).
const maxTextLength = 64 << 10

// FromValidate turns a validate error into a *InvalidError naming
// its first problem and wrapping the whole list. Other errors are
// returned as they are.
func checkFromValidate(err error) error {
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
	return &InvalidError{Field: first.Field, Value: first.BadValue, Detail: detail, Err: err}
}

// Text reports whether s may be stored in every driver: valid UTF-8
// without NUL, at most max bytes.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return Invalid(field, abbrev(s), "must be at most "+strconv.Itoa(max)+" bytes, got "+strconv.Itoa(len(s)))
	}
	if !utf8.ValidString(s) {
		return Invalid(field, abbrev(s), "must be valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Invalid(field, abbrev(s), "must not contain NUL")
	}
	return nil
}

// Key checks an ID, owner or other key: 1 to maxKeyLength bytes of
// printable UTF-8.
func checkKey(field, s string) error {
	if s == "" {
		return Invalid(field, s, "must not be empty")
	}
	if err := checkText(field, s, maxKeyLength); err != nil {
		return err
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Invalid(field, s, "must not contain control characters")
		}
	}
	return nil
}

// OptionalKey is Key for a key that may be empty.
func checkOptionalKey(field, s string) error {
	if s == "" {
		return nil
	}
	return checkKey(field, s)
}

// Name checks a product name used for a lookup.
func checkName(field, s string) error {
	if err := checkKey(field, s); err != nil {
		return err
	}
	if utf8.RuneCountInString(s) > validate.MaxNameLength {
		return Invalid(field, abbrev(s), "must be at most "+strconv.Itoa(validate.MaxNameLength)+" characters")
	}
	return nil
}

// DeploymentName checks a deployment name: a DNS-1123 label.
func checkDeploymentName(field, s string) error {
	if fe := validate.DNSLabel(field, s); fe != nil {
		return &InvalidError{Field: fe.Field, Value: abbrev(s), Detail: fe.Detail, Err: fe}
	}
	return nil
}

// Product checks a product record given to CreateProduct or
// UpdateProduct.
func checkProduct(p *product.Product) error {
	if p == nil {
		return Invalid("product", nil, "must not be nil")
	}
	if err := checkOptionalKey("product_id", p.ID); err != nil {
		return err
	}
	return checkFromValidate(validate.Product(p))
}

// Version checks a version record given to CreateVersion.
func checkVersion(v *product.Version, opts *validate.Options) error {
	if v == nil {
		return Invalid("product_version", nil, "must not be nil")
	}
	if err := checkOptionalKey("product_version_id", v.ID); err != nil {
		return err
	}
	if err := checkKey("product_id", v.ProductID); err != nil {
		return err
	}
	if v.TemplateURL != "" {
		if _, err := checkTemplateID("template_url", v.TemplateURL); err != nil {
			return err
		}
	}
	return checkFromValidate(validate.Version(v, opts))
}

// VersionUpdate checks an UpdateVersion argument; Immutable then compares
// it with the stored version.
func checkVersionUpdate(v *product.Version) error {
	if v == nil {
		return Invalid("product_version", nil, "must not be nil")
	}
	if err := checkKey("product_version_id", v.ID); err != nil {
		return err
	}
	switch v.Guidance {
	case "", product.GuidanceDefault, product.GuidanceRecommended, product.GuidanceLatest, product.GuidanceDeprecated:
	default:
		return Invalid("guidance", string(v.Guidance), `supported values: "Default", "Recommended", "Latest", "Deprecated"`)
	}
	return checkDescription("description", v.Description)
}

func checkDescription(field, s string) error {
	if err := checkText(field, s, validate.MaxDescriptionLength*4); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(s); n > validate.MaxDescriptionLength {
		return Invalid(field, abbrev(s), "must be at most "+strconv.Itoa(validate.MaxDescriptionLength)+" characters, got "+strconv.Itoa(n))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Invalid(field, abbrev(s), "must not contain control characters")
		}
	}
	return nil
}

// Immutable reports an ErrInvalid when v changes a field of the stored
// version old other than Guidance, Active and Description. Empty fields
// of v are taken to mean "unchanged".
func checkImmutable(old, v *product.Version) error {
	switch {
	case v.ProductID != "" && v.ProductID != old.ProductID:
		return Invalid("product_id", v.ProductID, "is immutable")
	case v.Name != "" && v.Name != old.Name:
		return Invalid("version_name", v.Name, "is immutable")
	case v.TemplateURL != "" && v.TemplateURL != old.TemplateURL:
		return Invalid("template_url", v.TemplateURL, "is immutable")
	case v.ContentHash != "" && v.ContentHash != old.ContentHash:
		return Invalid("content_hash", v.ContentHash, "is immutable")
	case len(v.StackDeps) > 0 && product.Hash(v.StackDeps) != old.ContentHash:
		return Invalid("stack_deps", nil, "is immutable: create a new version")
	}
	return nil
}

// Template checks a template given to CreateTemplate.
func checkTemplate(t *Template, opts *validate.Options) error {
	if t == nil {
		return Invalid("template", nil, "must not be nil")
	}
	if t.ID != "" {
		if _, err := checkTemplateID("template_id", t.ID); err != nil {
			return err
		}
	}
	if t.URL != "" && t.ID != "" && t.URL != TemplateURLPrefix+t.ID {
		return Invalid("template_url", t.URL, "must be "+TemplateURLPrefix+t.ID+" or empty")
	}
	if err := checkDescription("description", t.Description); err != nil {
		return err
	}
	return checkFromValidate(validate.Deps(t.StackDeps, opts))
}

// TemplateID returns the template ID of a template ID or URL.
func checkTemplateID(field, idOrURL string) (string, error) {
	if err := checkKey(field, idOrURL); err != nil {
		return "", err
	}
	id := strings.TrimPrefix(idOrURL, TemplateURLPrefix)
	if !strings.HasPrefix(id, product.TemplateIDPrefix) || len(id) == len(product.TemplateIDPrefix) || strings.ContainsAny(id, "/?#") {
		return "", Invalid(field, idOrURL, "must be a template ID (tpl-...) or URL ("+TemplateURLPrefix+"tpl-...)")
	}
	return id, nil
}

// Page returns the page and page size a query asks for.
func checkPage(q ProductQuery) (page, size int, err error) {
	page, size = q.Page, q.PageSize
	if page < 0 {
		return 0, 0, Invalid("page", page, "must be 1 or more (0 means 1)")
	}
	if page == 0 {
		page = 1
	}
	if size < 0 || size > MaxPageSize {
		return 0, 0, Invalid("page_size", size, "must be between 1 and "+strconv.Itoa(MaxPageSize)+" (0 means "+strconv.Itoa(DefaultPageSize)+")")
	}
	if size == 0 {
		size = DefaultPageSize
	}
	if page > (1<<31)/size {
		return 0, 0, Invalid("page", page, "is too large")
	}
	if q.Name != "" {
		if err := checkName("product_name", q.Name); err != nil {
			return 0, 0, err
		}
	}
	if err := checkText("text", q.Text, validate.MaxNameLength*4); err != nil {
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
func checkSearchQuery(text string) string { return strings.ToLower(text) }

// Deployment checks a deployment record given to CreateDeployment or
// UpdateDeployment.
func checkDeployment(d *Deployment) error {
	if d == nil {
		return Invalid("deployment", nil, "must not be nil")
	}
	if err := checkDeploymentName("name", d.Name); err != nil {
		return err
	}
	if err := checkKey("product_id", d.ProductID); err != nil {
		return err
	}
	if err := checkKey("product_version_id", d.VersionID); err != nil {
		return err
	}
	if err := checkOptionalKey("target_version_id", d.TargetVersionID); err != nil {
		return err
	}
	if err := checkText("runtime", d.Runtime, maxKeyLength); err != nil {
		return err
	}
	switch d.Status {
	case "", StatusUnderChange, StatusAvailable, StatusError, StatusTainted, StatusTerminated:
	default:
		return Invalid("status", string(d.Status), `supported values: "UnderChange", "Available", "Error", "Tainted", "Terminated"`)
	}
	for k, v := range d.Parameters {
		if err := checkKey("parameters", k); err != nil {
			return err
		}
		if err := checkText("parameters."+k, v, maxTextLength); err != nil {
			return err
		}
	}
	for i := range d.Stacks {
		s := &d.Stacks[i]
		f := "stacks[" + strconv.Itoa(i) + "]"
		if err := checkKey(f+".stack_name", s.Name); err != nil {
			return err
		}
		for _, t := range [...]struct{ field, s string }{
			{".state", s.State}, {".config_hash", s.ConfigHash}, {".message", s.Message},
		} {
			if err := checkText(f+t.field, t.s, maxTextLength); err != nil {
				return err
			}
		}
		if err := checkJSONTime(f+".updated_at", s.UpdatedAt); err != nil {
			return err
		}
	}
	for i, name := range d.VolumeStacks {
		if err := checkKey("volume_stacks["+strconv.Itoa(i)+"]", name); err != nil {
			return err
		}
	}
	for i := range d.Operations {
		if err := checkOperation("operations["+strconv.Itoa(i)+"]", &d.Operations[i]); err != nil {
			return err
		}
	}
	return nil
}

// Operation checks one entry of a deployment's history.
func checkOperation(f string, op *Operation) error {
	if err := checkKey(f+".operation_id", op.ID); err != nil {
		return err
	}
	switch op.Type {
	case OpLaunch, OpUpdate, OpTerminate, OpRestart, OpStop, OpStart, OpScale:
	default:
		return Invalid(f+".type", string(op.Type), "not a known operation type")
	}
	switch op.Status {
	case OpInProgress, OpSucceeded, OpFailed:
	default:
		return Invalid(f+".status", string(op.Status), `supported values: "InProgress", "Succeeded", "Failed"`)
	}
	for _, t := range [...]struct{ field, s string }{
		{".from_version_id", op.FromVersionID}, {".to_version_id", op.ToVersionID},
		{".policy", op.Policy}, {".stack_name", op.Stack}, {".service_name", op.Service},
		{".owner", op.Owner}, {".message", op.Message},
	} {
		if err := checkText(f+t.field, t.s, maxTextLength); err != nil {
			return err
		}
	}
	for i, name := range op.NewVolumeStacks {
		if err := checkKey(f+".new_volume_stacks["+strconv.Itoa(i)+"]", name); err != nil {
			return err
		}
	}
	if err := checkJSONTime(f+".started_at", op.StartedAt); err != nil {
		return err
	}
	return checkJSONTime(f+".ended_at", op.EndedAt)
}

// jsonTime refuses times encoding/json cannot write (years outside 0 to
// 9999).
func checkJSONTime(field string, t time.Time) error {
	if y := t.Year(); y < 0 || y > 9999 {
		return Invalid(field, t.String(), "year must be between 0 and 9999")
	}
	return nil
}

// TrimOperations keeps the newest max operations.
func checkTrimOperations(ops []Operation, max int) []Operation {
	if len(ops) > max {
		return ops[len(ops)-max:]
	}
	return ops
}

// Events checks events given to AppendEvents.
func checkEvents(events []Event) error {
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			// Paths are built only for the event at fault: logs are
			// appended in batches of thousands.
			var ie *InvalidError
			if errors.As(err, &ie) {
				ie.Field = "events[" + strconv.Itoa(i) + "]." + ie.Field
			}
			return err
		}
	}
	return nil
}

func checkEvent(e *Event) error {
	if err := checkKey("operation_id", e.OperationID); err != nil {
		return err
	}
	if err := checkKey("type", e.Type); err != nil {
		return err
	}
	if err := checkText("stack_name", e.Stack, maxTextLength); err != nil {
		return err
	}
	if err := checkText("service_name", e.Service, maxTextLength); err != nil {
		return err
	}
	if err := checkText("message", e.Message, maxTextLength); err != nil {
		return err
	}
	if y := e.Time.Year(); !e.Time.IsZero() && (y < 1900 || y > 9999) {
		return Invalid("time", e.Time.String(), "year must be between 1900 and 9999")
	}
	return nil
}

// EventQuery checks a ListEvents query.
func checkEventQuery(q EventQuery) error {
	if err := checkOptionalKey("operation_id", q.OperationID); err != nil {
		return err
	}
	if q.AfterSeq < 0 {
		return Invalid("after_seq", q.AfterSeq, "must not be negative")
	}
	if q.Limit < 0 {
		return Invalid("limit", q.Limit, "must not be negative (0 means all)")
	}
	return nil
}

// Lease checks the arguments of AcquireLease.
func checkLease(deployment, owner string, ttl time.Duration) error {
	if err := checkDeploymentName("deployment", deployment); err != nil {
		return err
	}
	if err := checkKey("owner", owner); err != nil {
		return err
	}
	if ttl <= 0 {
		return Invalid("ttl", ttl.String(), "must be positive")
	}
	if ttl > 100*365*24*time.Hour {
		return Invalid("ttl", ttl.String(), "must be at most 100 years")
	}
	return nil
}

// VersionBelongs returns ErrNotFound for a version that is not one of
// productID's.
func checkVersionBelongs(field, versionID, versionProduct, productID string) error {
	if versionProduct != productID {
		return fmt.Errorf("%s %q of product %q: %w", field, versionID, productID, ErrNotFound)
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
func checkDeploymentQuery(q DeploymentQuery) error {
	if err := checkOptionalKey("product_id", q.ProductID); err != nil {
		return err
	}
	if err := checkOptionalKey("product_version_id", q.VersionID); err != nil {
		return err
	}
	return checkOptionalKey("status", string(q.Status))
}
