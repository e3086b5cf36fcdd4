// Package validate checks products against stackwave's rules and returns
// every problem at once, each with the JSON path the user wrote, its kind
// and the offending value:
//
//	stack_deps[1][0].services[0].image.tag: Invalid value: "": must not be empty
//
// Paths name fields the way the document wrote them: an env of an envs
// object as envs.NAME, a single access point as access_point, when the
// document came from product.Decode (see product.Document.Shorthands).
//
// The error returned for a product that breaks the rules is an *Error
// matching ErrInvalid. Documents that cannot be decoded at all are reported
// by product.Decode with product.ErrInvalidArgs instead.
//
// Besides the rules every product must follow, a server bounds the size
// of what it accepts with [Limits]; the API and the command line apply
// [DefaultLimits] unless configured otherwise.
package validate

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/stackwave/stackwave/internal/fieldpath"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

// Limits of names and fields.
const (
	MaxNameLength        = 128 // product, provider and version names
	MaxDescriptionLength = 128
	MaxLabelLength       = 63 // DNS-1123 labels, and stack_name + "-" + service_name
	MaxTagKeyLength      = 128
	MaxTagValueLength    = 256
	MaxInstances         = 1000
)

// Options tune validation. A nil *Options means the defaults.
type Options struct {
	// Catalog lists the unit and volume types services may use; nil means
	// stack.DefaultCatalog().
	Catalog *stack.Catalog
	// Limits bound the size of the spec; nil means none. Servers set
	// DefaultLimits() or their own.
	Limits *Limits
	// Shorthands say where the spec's document used shorthand forms, so
	// that Version and Deps name fields as written (see
	// product.DecodeJSONShorthands). Document reads the document's own.
	Shorthands product.Shorthands
}

var defaultCatalog = stack.DefaultCatalog()

func (o *Options) catalog() *stack.Catalog {
	if o == nil || o.Catalog == nil {
		return defaultCatalog
	}
	return o.Catalog
}

func newValidator(opts *Options) *validator {
	v := &validator{cat: opts.catalog()}
	if opts != nil {
		v.sh = opts.Shorthands
		if opts.Limits != nil {
			l := opts.Limits.withDefaults()
			v.lim = &l
		}
	}
	return v
}

// Document checks a decoded product document: its name, catalog fields and
// stack_deps. It returns nil or an *Error listing every problem.
func Document(doc *product.Document, opts *Options) error {
	v := newValidator(opts)
	if doc.Shorthands != nil {
		v.sh = doc.Shorthands
	}
	v.productName("product_name", doc.Name)
	if doc.ProviderName != "" {
		v.name("provider_name", doc.ProviderName, MaxNameLength)
	}
	v.text("description", doc.Description, MaxDescriptionLength)
	v.text("product_type", doc.ProductType, MaxNameLength)
	v.visibility("visibility", doc.Visibility)
	v.tags("tags", doc.Tags)
	if doc.VersionName != "" {
		v.name("version_name", doc.VersionName, MaxNameLength)
	}
	v.text("version_description", doc.VersionDescription, MaxDescriptionLength)
	v.guidance("guidance", doc.Guidance)
	switch {
	case doc.TemplateURL != "" && len(doc.StackDeps) > 0:
		v.add(Invalid, "template_url", doc.TemplateURL, "give either stack_deps or template_url, not both")
	case doc.TemplateURL != "":
		v.templateURL("template_url", doc.TemplateURL)
	default:
		v.deps(doc.StackDeps)
	}
	return v.errs.errorOrNil()
}

// Deps checks stack_deps on their own (paths start with "stack_deps").
func Deps(deps stack.Deps, opts *Options) error {
	v := newValidator(opts)
	v.deps(deps)
	return v.errs.errorOrNil()
}

// Product checks the catalog fields of a product record.
func Product(p *product.Product) error {
	v := &validator{}
	v.productName("product_name", p.Name)
	v.name("provider_name", p.ProviderName, MaxNameLength)
	v.text("description", p.Description, MaxDescriptionLength)
	v.text("product_type", p.ProductType, MaxNameLength)
	v.visibility("visibility", p.Visibility)
	v.tags("tags", p.Tags)
	return v.errs.errorOrNil()
}

// Version checks a product version record, its spec included unless it
// references a template.
func Version(pv *product.Version, opts *Options) error {
	v := newValidator(opts)
	v.name("version_name", pv.Name, MaxNameLength)
	v.text("description", pv.Description, MaxDescriptionLength)
	v.guidance("guidance", pv.Guidance)
	if pv.TemplateURL == "" || len(pv.StackDeps) > 0 {
		v.deps(pv.StackDeps)
	}
	return v.errs.errorOrNil()
}

// IsDNSLabel reports whether s is a DNS-1123 label: 1 to 63 lower-case
// letters, digits and '-', starting and ending with a letter or digit.
func IsDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > MaxLabelLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// DNSLabel returns nil or a FieldError for a name that must be a DNS label.
func DNSLabel(field, s string) *FieldError {
	if s == "" {
		return &FieldError{Field: field, Type: Required, Detail: "must not be empty"}
	}
	if IsDNSLabel(s) {
		return nil
	}
	if len(s) > MaxLabelLength {
		return &FieldError{Field: field, Type: TooLong, BadValue: s, Detail: "must be at most 63 characters"}
	}
	return &FieldError{Field: field, Type: Invalid, BadValue: s,
		Detail: "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"}
}

type validator struct {
	cat  *stack.Catalog
	lim  *Limits // nil: none
	sh   product.Shorthands
	errs ErrorList
	// images memoises imageName.
	images map[string]string
}

func (v *validator) add(t ErrorType, field string, bad any, detail string) {
	v.errs = append(v.errs, &FieldError{Field: field, Type: t, BadValue: bad, Detail: detail})
}

func (v *validator) productName(field, s string) {
	if v.name(field, s, MaxNameLength) && product.IsID(s) {
		v.add(Invalid, field, s, "must not have the shape of an ID (prod-, pv- or tpl- and 16 letters and digits): lookups by that ID would find another product")
	}
}

// name checks a required name a person reads: length in characters,
// valid UTF-8, no space around it, no control, format (zero-width,
// direction) or separator characters, which make two names that look
// alike differ. It reports whether the name is fine.
func (v *validator) name(field, s string, max int) bool {
	if strings.TrimSpace(s) == "" {
		v.add(Required, field, s, "must not be empty")
		return false
	}
	if !v.text(field, s, max) {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(s); unicode.IsSpace(r) {
		v.add(Invalid, field, s, "must not start with a space")
		return false
	}
	if r, _ := utf8.DecodeLastRuneInString(s); unicode.IsSpace(r) {
		v.add(Invalid, field, s, "must not end with a space")
		return false
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			v.add(Invalid, field, s, fmt.Sprintf("must not contain invisible characters such as %U (zero-width, direction or separator)", r))
			return false
		}
	}
	return true
}

// text checks an optional free text: length in characters, valid UTF-8,
// no control characters and no direction controls, which can make text
// read other than it is stored. It reports whether the text is fine.
func (v *validator) text(field, s string, max int) bool {
	if n := utf8.RuneCountInString(s); n > max {
		v.add(TooLong, field, s, "must be at most "+strconv.Itoa(max)+" characters, got "+strconv.Itoa(n))
		return false
	}
	if !utf8.ValidString(s) {
		v.add(Invalid, field, s, "must be valid UTF-8")
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			v.add(Invalid, field, s, fmt.Sprintf("must not contain control characters (%U)", r))
			return false
		}
		if isBidiControl(r) {
			v.add(Invalid, field, s, fmt.Sprintf("must not contain direction controls (%U)", r))
			return false
		}
	}
	return true
}

// isBidiControl reports whether r changes the direction text is shown in.
func isBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

func (v *validator) visibility(field string, vis product.Visibility) {
	switch vis {
	case "", product.Private, product.Public:
	default:
		v.add(NotSupported, field, string(vis), `supported values: "private", "public"`)
	}
}

func (v *validator) guidance(field string, g product.Guidance) {
	switch g {
	case "", product.GuidanceDefault, product.GuidanceRecommended, product.GuidanceLatest, product.GuidanceDeprecated:
	default:
		v.add(NotSupported, field, string(g), `supported values: "Default", "Recommended", "Latest", "Deprecated"`)
	}
}

func (v *validator) tags(field string, tags map[string]string) {
	for _, k := range sortedKeys(tags) {
		f := Key(field, k)
		if k == "" {
			v.add(Required, field, k, "tag keys must not be empty")
			continue
		}
		if v.name(f, k, MaxTagKeyLength) {
			v.text(f, tags[k], MaxTagValueLength)
		}
	}
}

// TemplateScheme is the scheme of template reference URLs.
const TemplateScheme = "stackwave://templates/"

func (v *validator) templateURL(field, u string) {
	id, ok := strings.CutPrefix(u, TemplateScheme)
	if !ok || !strings.HasPrefix(id, product.TemplateIDPrefix) || strings.ContainsAny(id, "/?#") {
		v.add(Invalid, field, u, "must be a template reference such as "+TemplateScheme+"tpl-...")
	}
}

// loc is the position of a stack or service, turned into a path only when
// a problem is reported.
type loc struct{ tier, stack, svc int }

func (l loc) stackPath() string {
	return "stack_deps[" + strconv.Itoa(l.tier) + "][" + strconv.Itoa(l.stack) + "]"
}

func (l loc) svcPath() string {
	return l.stackPath() + ".services[" + strconv.Itoa(l.svc) + "]"
}

// svcField returns the path of a field of the service, built only when a
// problem is reported: "stack_deps[t][s].services[k]" + field, or with
// an index, field + "[i]" + rest.
func (l loc) svcField(field string) string { return l.svcPath() + field }

func (l loc) svcIndexed(field string, i int, rest string) string {
	return l.svcPath() + field + "[" + strconv.Itoa(i) + "]" + rest
}

func idx(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// Key returns the path of the map entry k of field: field.k when k is a
// plain name (letters, digits, '_' and '-'), else field["k"] quoted, so a
// path never holds a dot, bracket or line break that is part of a key.
func Key(field, k string) string { return fieldpath.Key(field, k) }

type stackPos struct {
	tier, index int
}

// smallSet is the size up to which uniqueness is checked by scanning
// rather than with a map.
const smallSet = 8

func (v *validator) deps(deps stack.Deps) {
	if len(deps) == 0 {
		v.add(Required, "stack_deps", nil, "a product needs at least one tier")
		return
	}
	// depends_on may name any stack, so every name is known before the
	// walk that reports problems in document order.
	ntiers, nstacks, nservices := deps.Counts()
	if v.lim != nil {
		v.limit("stack_deps", ntiers, v.lim.Tiers, "max-tiers", "tiers")
		v.limit("stack_deps", nservices, v.lim.Services, "max-services", "services in a product")
		instances, ports := countInstances(deps)
		if v.lim.Instances >= 0 && instances > v.lim.Instances {
			v.add(TooMany, "stack_deps", instances, fmt.Sprintf("must run at most %d instances in all (limit max-instances), got %d", v.lim.Instances, instances))
		}
		v.limit("stack_deps", ports, v.lim.Ports, "max-ports", "backend ports in all access points")
	}
	names := make(map[string]stackPos, nstacks)
	for ti, tier := range deps {
		for si := range tier {
			if name := tier[si].Name; IsDNSLabel(name) {
				if _, dup := names[name]; !dup {
					names[name] = stackPos{tier: ti, index: si}
				}
			}
		}
	}
	for ti, tier := range deps {
		if len(tier) == 0 {
			v.add(Required, idx("stack_deps", ti), nil, "a tier needs at least one stack")
		}
		if v.lim != nil {
			v.limit(idx("stack_deps", ti), len(tier), v.lim.StacksPerTier, "max-stacks-per-tier", "stacks in a tier")
		}
		for si := range tier {
			s := &tier[si]
			l := loc{tier: ti, stack: si}
			if !IsDNSLabel(s.Name) {
				v.errs = append(v.errs, DNSLabel(l.stackPath()+".stack_name", s.Name))
			} else if first := names[s.Name]; first != (stackPos{tier: ti, index: si}) {
				v.add(Duplicate, l.stackPath()+".stack_name", s.Name,
					"stack names must be unique in a product; first used at "+loc{tier: first.tier, stack: first.index}.stackPath())
			}
			v.dependsOn(s, l, names)
			v.stack(s, l)
		}
	}
}

func (v *validator) stack(s *stack.Stack, l loc) {
	if len(s.Services) == 0 {
		v.add(Required, l.stackPath()+".services", nil, "a stack needs at least one service")
	}
	// Stacks are small; a set is built only for large ones, so that a
	// huge stack costs linear time.
	var svcNames map[string]struct{}
	if len(s.Services) > smallSet {
		svcNames = make(map[string]struct{}, len(s.Services))
	}
	for k := range s.Services {
		sl := l
		sl.svc = k
		svc := &s.Services[k]
		v.service(s, svc, sl)
		if svc.Name == "" {
			continue
		}
		dup := false
		if svcNames != nil {
			_, dup = svcNames[svc.Name]
			svcNames[svc.Name] = struct{}{}
		} else {
			for j := 0; j < k && !dup; j++ {
				dup = s.Services[j].Name == svc.Name
			}
		}
		if dup {
			v.add(Duplicate, sl.svcPath()+".service_name", svc.Name, "service names must be unique in a stack")
		}
	}
	hasService := func(name string) bool {
		if svcNames != nil {
			_, ok := svcNames[name]
			return ok
		}
		return s.Service(name) != nil
	}
	for i := range s.InitScripts {
		is := &s.InitScripts[i]
		f := l.stackPath() + ".init_scripts[" + strconv.Itoa(i) + "]"
		if is.ServiceName == "" {
			v.add(Required, f+".service_name", "", "must name a service of the stack")
		} else if !hasService(is.ServiceName) {
			v.add(NotFound, f+".service_name", is.ServiceName, "no service of that name in stack "+strconv.Quote(s.Name))
		}
		v.command(func() string { return f + ".command" }, is.Command, true)
	}
}

func (v *validator) dependsOn(s *stack.Stack, l loc, names map[string]stackPos) {
	var seen map[string]struct{}
	if len(s.DependsOn) > smallSet {
		seen = make(map[string]struct{}, len(s.DependsOn))
	}
	for i, dep := range s.DependsOn {
		f := l.stackPath() + ".depends_on[" + strconv.Itoa(i) + "]"
		pos, ok := names[dep]
		switch {
		case !ok:
			v.add(NotFound, f, dep, "no stack of that name in the product")
		case pos.tier >= l.tier:
			v.add(Invalid, f, dep, "must name a stack of an earlier tier; "+strconv.Quote(dep)+" is in tier "+strconv.Itoa(pos.tier))
		case seen != nil:
			if _, dup := seen[dep]; dup {
				v.add(Duplicate, f, dep, "listed twice")
			}
			seen[dep] = struct{}{}
		default:
			if slices.Contains(s.DependsOn[:i], dep) {
				v.add(Duplicate, f, dep, "listed twice")
			}
		}
	}
}

func (v *validator) service(s *stack.Stack, svc *stack.Service, l loc) {
	if !IsDNSLabel(svc.Name) {
		v.errs = append(v.errs, DNSLabel(l.svcField(".service_name"), svc.Name))
	} else if s.Name != "" && len(s.Name)+1+len(svc.Name) > MaxLabelLength {
		v.add(TooLong, l.svcField(".service_name"), svc.Name,
			"stack_name + \"-\" + service_name must be at most 63 characters, got "+strconv.Itoa(len(s.Name)+1+len(svc.Name)))
	}
	if svc.UnitType == "" {
		v.add(Required, l.svcField(".unit_type"), "", "must name a unit type such as 1U1G")
	} else if v.cat != nil {
		if _, err := v.cat.Unit(svc.UnitType); err != nil {
			v.add(NotSupported, l.svcField(".unit_type"), svc.UnitType, err.Error()+"; supported: "+strings.Join(v.cat.UnitNames(), ", "))
		}
	}
	v.image(&svc.Image, l)
	v.envs(svc.Envs, l)
	v.command(func() string { return l.svcField(".command") }, svc.Command, false)
	switch {
	case svc.Instances < 0 || svc.Instances > MaxInstances:
		v.add(Invalid, l.svcField(".instances"), svc.Instances, "must be between 1 and "+strconv.Itoa(MaxInstances)+" (0 or absent means 1)")
	case v.lim != nil && v.lim.InstancesPerService >= 0 && svc.Instances > v.lim.InstancesPerService:
		v.add(TooMany, l.svcField(".instances"), svc.Instances, fmt.Sprintf("must be at most %d (limit max-instances-per-service), got %d", v.lim.InstancesPerService, svc.Instances))
	}
	v.paths(svc, l)
	v.accessPoints(svc, l)
	if svc.Readiness != nil {
		v.probe(svc.Readiness, l)
	}
}

func (v *validator) image(img *stack.Image, l loc) {
	if img.Name == "" {
		v.add(Required, l.svcField(".image.name"), "", "must name an image")
	} else if detail := v.imageName(img.Name); detail != "" {
		v.add(Invalid, l.svcField(".image.name"), img.Name, detail)
	}
	switch {
	case img.Tag == "" && img.Digest == "":
		v.add(Required, l.svcField(".image.tag"), "", "must not be empty unless a digest is given")
	case img.Tag != "" && !validTag(img.Tag):
		v.add(Invalid, l.svcField(".image.tag"), img.Tag, "must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
	}
	if img.Digest != "" {
		if _, err := digest.Parse(img.Digest); err != nil {
			v.add(Invalid, l.svcField(".image.digest"), img.Digest, "must be a digest such as sha256:<64 hex digits>: "+err.Error())
		}
	}
}

// imageName checks an image name by the Docker reference grammar and
// returns what is wrong with it, or "". Products repeat a few images over
// many services, so each distinct name is parsed once per validation.
func (v *validator) imageName(name string) string {
	if detail, ok := v.images[name]; ok {
		return detail
	}
	detail := ""
	if named, err := reference.ParseNormalizedNamed(name); err != nil {
		detail = "must be an image name by the Docker reference grammar: " + err.Error()
	} else if !reference.IsNameOnly(named) {
		detail = "must not carry a tag or digest; use the tag and digest fields"
	}
	if v.images == nil {
		v.images = make(map[string]string)
	}
	v.images[name] = detail
	return detail
}

// validTag implements the tag grammar [\w][\w.-]{0,127}.
func validTag(t string) bool {
	if len(t) == 0 || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// validEnvKey implements [A-Za-z_][A-Za-z0-9_]*.
func validEnvKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// envPath returns the path of env entry i of the service at l, as the
// document wrote it: envs.KEY for an envs object, envs[i] for a list.
func (v *validator) envPath(l loc, envs []string, i int) string {
	if v.sh.Of(l.tier, l.stack, l.svc).EnvsObject {
		key, _, _ := strings.Cut(envs[i], "=")
		return Key(l.svcField(".envs"), key)
	}
	return l.svcIndexed(".envs", i, "")
}

// accessPointPath returns the path of field rest of access point i of the
// service at l, as the document wrote it: a single access_point comes
// first in the spec.
func (v *validator) accessPointPath(l loc, i int, rest string) string {
	if v.sh.Of(l.tier, l.stack, l.svc).AccessPoint {
		if i == 0 {
			return l.svcField(".access_point" + rest)
		}
		i--
	}
	return l.svcIndexed(".access_points", i, rest)
}

// envs checks "KEY=VALUE" entries. Values may hold secrets, so a bad entry
// is reported by its key only.
func (v *validator) envs(envs []string, l loc) {
	if v.lim != nil {
		if v.lim.EnvsPerService >= 0 && len(envs) > v.lim.EnvsPerService {
			v.add(TooMany, l.svcField(".envs"), len(envs), fmt.Sprintf("must have at most %d entries (limit max-envs-per-service), got %d", v.lim.EnvsPerService, len(envs)))
		}
	}
	var seen map[string]struct{}
	if len(envs) > smallSet {
		seen = make(map[string]struct{}, len(envs))
	}
	for i, kv := range envs {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			v.add(Invalid, v.envPath(l, envs, i), redact(key, false), `must be "KEY=VALUE"`)
			continue
		}
		if !validEnvKey(key) {
			v.add(Invalid, v.envPath(l, envs, i), redact(key, true), "env names must match [A-Za-z_][A-Za-z0-9_]*")
			continue
		}
		if detail := processString(value); detail != "" {
			v.add(Invalid, v.envPath(l, envs, i), redact(key, true), "env values "+detail)
			continue
		}
		dup := false
		if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			for _, prev := range envs[:i] {
				if pk, _, _ := strings.Cut(prev, "="); pk == key {
					dup = true
					break
				}
			}
		}
		if dup {
			v.add(Duplicate, v.envPath(l, envs, i), redact(key, true), "env names must be unique in a service")
		}
	}
}

// processString returns what makes s unfit for a process's arguments or
// environment, or "": no engine can pass a NUL byte (execve ends the
// string there), and JSON, in which engines are driven, cannot carry
// invalid UTF-8 unchanged.
func processString(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "must not contain NUL: no engine can pass it to a process"
	}
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	return ""
}

// redact shows an env entry without its value.
func redact(key string, hadValue bool) string {
	if len(key) > 64 {
		key = key[:64] + "..."
	}
	if hadValue {
		return key + "=<redacted>"
	}
	return "<redacted>"
}

// command checks a command; field builds its path when a problem is
// reported.
func (v *validator) command(field func() string, cmd []string, required bool) {
	if required && len(cmd) == 0 {
		v.add(Required, field(), nil, "must not be empty")
	}
	for i, arg := range cmd {
		if arg == "" {
			v.add(Invalid, idx(field(), i), "", "command entries must not be empty")
		} else if detail := processString(arg); detail != "" {
			v.add(Invalid, idx(field(), i), printable(arg), "command entries "+detail)
		}
	}
}

// printable shows a value with invalid UTF-8 replaced, for an error.
func printable(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// paths checks mount paths and config paths: absolute, clean, unique in
// the service (a config file cannot share a path with a volume).
func (v *validator) paths(svc *stack.Service, l loc) {
	// pathRef is a mount path (volume_args[i]) or a config path; paths
	// are built only for problems.
	type pathRef struct {
		volume bool
		i      int
	}
	field := func(r pathRef) string {
		if r.volume {
			return l.svcIndexed(".volume_args", r.i, ".mount_path")
		}
		return l.svcIndexed(".config_paths", r.i, "")
	}
	n := len(svc.VolumeArgs) + len(svc.ConfigPaths)
	if n == 0 {
		return
	}
	var small [smallSet]struct {
		p string
		r pathRef
	}
	used := small[:0]
	var seen map[string]pathRef
	if n > smallSet {
		seen = make(map[string]pathRef, n)
	}
	check := func(p string, r pathRef) {
		switch {
		case p == "":
			v.add(Required, field(r), "", "must be an absolute path")
			return
		case !utf8.ValidString(p):
			v.add(Invalid, field(r), printable(p), "must be valid UTF-8")
			return
		case strings.IndexFunc(p, unicode.IsControl) >= 0:
			v.add(Invalid, field(r), p, "must not contain control characters")
			return
		case !strings.HasPrefix(p, "/"):
			v.add(Invalid, field(r), p, "must be an absolute path")
			return
		case p != "/" && (path.Clean(p) != p || strings.Contains(p, "..")):
			v.add(Invalid, field(r), p, "must be a clean path: no '..', '.', '//' or trailing '/'")
			return
		case p == "/":
			v.add(Invalid, field(r), p, "must not be the root directory")
			return
		}
		if seen != nil {
			if prev, dup := seen[p]; dup {
				v.add(Duplicate, field(r), p, "already used at "+field(prev))
				return
			}
			seen[p] = r
			return
		}
		for _, u := range used {
			if u.p == p {
				v.add(Duplicate, field(r), p, "already used at "+field(u.r))
				return
			}
		}
		used = append(used, struct {
			p string
			r pathRef
		}{p, r})
	}
	for i := range svc.VolumeArgs {
		va := &svc.VolumeArgs[i]
		check(va.MountPath, pathRef{volume: true, i: i})
		if va.UnitType == "" {
			v.add(Required, l.svcIndexed(".volume_args", i, ".unit_type"), "", "must name a volume type such as SSD1_10G")
		} else if v.cat != nil {
			if _, err := v.cat.Volume(va.UnitType); err != nil {
				v.add(NotSupported, l.svcIndexed(".volume_args", i, ".unit_type"), va.UnitType, err.Error())
			}
		}
	}
	for i, p := range svc.ConfigPaths {
		check(p, pathRef{i: i})
	}
}

// portSet records the ports a service uses. A TCP and a UDP port of the
// same number do not clash. Small services stay on the stack.
type portSet struct {
	small [smallSet]int
	n     int
	large map[int]struct{}
}

// add records port p of protocol proto and reports whether it was new.
func (s *portSet) add(p int, proto string) bool {
	key := p << 1
	if proto == stack.ProtoUDP {
		key |= 1
	}
	if s.large == nil {
		for _, k := range s.small[:s.n] {
			if k == key {
				return false
			}
		}
		if s.n < len(s.small) {
			s.small[s.n] = key
			s.n++
			return true
		}
		s.large = make(map[int]struct{}, 2*len(s.small))
		for _, k := range s.small {
			s.large[k] = struct{}{}
		}
	}
	if _, dup := s.large[key]; dup {
		return false
	}
	s.large[key] = struct{}{}
	return true
}

func (v *validator) accessPoints(svc *stack.Service, l loc) {
	var backend, host portSet
	for i := range svc.AccessPoints {
		ap := &svc.AccessPoints[i]
		f := func(field string) string { return v.accessPointPath(l, i, "."+field) }
		switch ap.Type {
		case stack.AccessDomain, stack.AccessPublicIP, stack.AccessInternalIP:
		case "":
			v.add(Required, f("type"), "", `must be "domain", "public_ip" or "internal_ip"`)
		default:
			v.add(NotSupported, f("type"), ap.Type, `supported values: "domain", "public_ip", "internal_ip"`)
		}
		switch ap.Proto {
		case "", stack.ProtoHTTP:
		case stack.ProtoTCP, stack.ProtoUDP:
			if ap.Type == stack.AccessDomain {
				v.add(NotSupported, f("proto"), ap.Proto, "a domain access point serves http")
			}
		default:
			v.add(NotSupported, f("proto"), ap.Proto, `supported values: "http", "tcp", "udp"`)
		}
		if len(ap.BackendPorts) == 0 {
			v.add(Required, f("backend_ports"), nil, "an access point needs at least one port")
		}
		for j, p := range ap.BackendPorts {
			if p < 1 || p > 65535 {
				v.add(Invalid, idx(f("backend_ports"), j), p, "must be between 1 and 65535")
				continue
			}
			if !backend.add(p, ap.Protocol()) {
				v.add(Duplicate, idx(f("backend_ports"), j), p, "ports must be unique in a service")
			}
		}
		if len(ap.HostPorts) > 0 && len(ap.HostPorts) != len(ap.BackendPorts) {
			v.add(Invalid, f("host_ports"), len(ap.HostPorts), "must have one entry per backend port ("+strconv.Itoa(len(ap.BackendPorts))+")")
		}
		for j, p := range ap.HostPorts {
			switch {
			case p < 0 || p > 65535:
				v.add(Invalid, idx(f("host_ports"), j), p, "must be between 1 and 65535, or 0 for a port the runtime assigns")
			case p > 0 && !host.add(p, ap.Protocol()):
				v.add(Duplicate, idx(f("host_ports"), j), p, "host ports must be unique in a service")
			}
		}
	}
}

func (v *validator) probe(p *stack.Probe, l loc) {
	f := l.svcField(".readiness_probe") // probes are rare
	port := func() {
		if p.Port < 1 || p.Port > 65535 {
			v.add(Invalid, f+".port", p.Port, "must be between 1 and 65535")
		}
	}
	switch p.Type {
	case stack.ProbeRunning, "":
	case stack.ProbeTCP:
		port()
	case stack.ProbeHTTP:
		port()
		switch {
		case p.Path != "" && !strings.HasPrefix(p.Path, "/"):
			v.add(Invalid, f+".path", p.Path, "must start with '/'")
		case !utf8.ValidString(p.Path):
			v.add(Invalid, f+".path", printable(p.Path), "must be valid UTF-8")
		case strings.ContainsFunc(p.Path, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }):
			v.add(Invalid, f+".path", p.Path, "must not contain spaces or control characters")
		}
		for i, c := range p.ExpectedCodes {
			if c < 100 || c > 599 {
				v.add(Invalid, idx(f+".expected_codes", i), c, "must be an HTTP status between 100 and 599")
			}
		}
	case stack.ProbeExec:
		if len(p.Command) == 0 {
			v.add(Required, f+".command", nil, "an exec probe needs a command")
		}
		v.command(func() string { return f + ".command" }, p.Command, false)
	default:
		v.add(NotSupported, f+".type", p.Type, `supported values: "running", "tcp", "http", "exec"`)
	}
	if p.Period < 0 {
		v.add(Invalid, f+".period", p.Period.Std().String(), "must not be negative")
	}
	if p.Timeout < 0 {
		v.add(Invalid, f+".timeout", p.Timeout.Std().String(), "must not be negative")
	}
}

// limit reports n things where at most max (negative: no limit) may be.
func (v *validator) limit(field string, n, max int, name, what string) {
	if max >= 0 && n > max {
		v.add(TooMany, field, n, fmt.Sprintf("must have at most %d %s (limit %s), got %d", max, what, name, n))
	}
}

// countInstances returns the instances a deployment of deps runs and the
// backend ports of its access points.
func countInstances(deps stack.Deps) (instances, ports int) {
	for _, tier := range deps {
		for si := range tier {
			for k := range tier[si].Services {
				svc := &tier[si].Services[k]
				instances += svc.Replicas()
				for i := range svc.AccessPoints {
					ports += len(svc.AccessPoints[i].BackendPorts)
				}
			}
		}
	}
	return instances, ports
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
