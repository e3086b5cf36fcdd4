package validate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits bound the size of what a server accepts, so that no accepted
// document can make it do unbounded work or answer with unbounded
// responses: each GET of a deployment, for one, grows with its services
// and instances. Each limit has a name, used in errors and by the flags of
// `stackwave serve` ("--max-services" sets Services).
//
// A zero field means its default (see DefaultLimits); a negative one means
// no limit. Exceeding a limit is an error of type TooMany (TooLong for
// DocumentBytes) naming the field and the limit.
type Limits struct {
	// DocumentBytes (max-document-bytes) bounds the size in bytes of a
	// product document or spec as sent, JSON or YAML. Default 4 MiB.
	DocumentBytes int
	// Tiers (max-tiers) bounds the entries of stack_deps. Default 100.
	Tiers int
	// StacksPerTier (max-stacks-per-tier) bounds the stacks of one tier.
	// Default 1,000.
	StacksPerTier int
	// Services (max-services) bounds the services of a product, over all
	// its stacks. Default 5,000.
	Services int
	// EnvsPerService (max-envs-per-service) bounds the envs of one
	// service. Default 1,000.
	EnvsPerService int
	// InstancesPerService (max-instances-per-service) bounds the instances
	// of one service. Default and largest value: MaxInstances (1,000).
	InstancesPerService int
	// Instances (max-instances) bounds the instances of a deployment: the
	// sum over its services. Default 10,000.
	Instances int
	// Ports (max-ports) bounds the backend ports of a product, over the
	// access points of all its services: each is an endpoint the
	// deployment reports. Default 10,000.
	Ports int
}

// Defaults of Limits.
const (
	DefaultDocumentBytes       = 4 << 20
	DefaultTiers               = 100
	DefaultStacksPerTier       = 1_000
	DefaultServices            = 5_000
	DefaultEnvsPerService      = 1_000
	DefaultInstancesPerService = MaxInstances
	DefaultInstances           = 10_000
	DefaultPorts               = 10_000
)

// DefaultLimits returns the limits the API and the command line apply
// unless told otherwise: high enough for real products of a few thousand
// services, low enough that no response about one grows beyond a few MB.
func DefaultLimits() *Limits {
	l := Limits{}.withDefaults()
	return &l
}

// withDefaults returns l with zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.DocumentBytes, DefaultDocumentBytes)
	set(&l.Tiers, DefaultTiers)
	set(&l.StacksPerTier, DefaultStacksPerTier)
	set(&l.Services, DefaultServices)
	set(&l.EnvsPerService, DefaultEnvsPerService)
	set(&l.InstancesPerService, DefaultInstancesPerService)
	set(&l.Instances, DefaultInstances)
	set(&l.Ports, DefaultPorts)
	return l
}

// Check reports limits that cannot be met: InstancesPerService beyond
// MaxInstances, which every product's rules already refuse.
func (l *Limits) Check() error {
	if l.InstancesPerService > MaxInstances {
		return errors.New("max-instances-per-service " + strconv.Itoa(l.InstancesPerService) + ": must be at most " + strconv.Itoa(MaxInstances))
	}
	return nil
}

// Size checks the size in bytes of a document or spec as sent against
// opts.Limits.DocumentBytes. It returns nil or an *Error with one problem
// of type TooLong, whose field is empty: the whole document.
func Size(n int, opts *Options) error {
	if opts == nil || opts.Limits == nil {
		return nil
	}
	l := opts.Limits.withDefaults()
	if l.DocumentBytes < 0 || n <= l.DocumentBytes {
		return nil
	}
	return &Error{Errors: ErrorList{{Type: TooLong, BadValue: n,
		Detail: fmt.Sprintf("the document must be at most %d bytes (limit max-document-bytes), got %d", l.DocumentBytes, n)}}}
}

// Parameters checks the template variables and config templates of a
// deployment request (see package deploy): their names must be valid
// UTF-8 without control characters, their values and contents valid UTF-8
// without NUL, since config files are text rendered from Go templates and
// a NUL in one is a mistake no engine reports. Values may be secrets and
// are never shown. It returns nil or an *Error.
func Parameters(vars, templates map[string]string) error {
	v := &validator{}
	for _, m := range []struct {
		field string
		m     map[string]string
	}{{"vars", vars}, {"config_templates", templates}} {
		for _, k := range sortedKeys(m.m) {
			f := Key(m.field, k)
			switch {
			case k == "":
				v.add(Required, m.field, "", "names must not be empty")
			case !utf8.ValidString(k):
				v.add(Invalid, f, printable(k), "names must be valid UTF-8")
			case strings.ContainsFunc(k, unicode.IsControl):
				v.add(Invalid, f, k, "names must not contain control characters")
			case !utf8.ValidString(m.m[k]):
				v.add(Invalid, f, k+"=<redacted>", "must be valid UTF-8")
			case strings.IndexByte(m.m[k], 0) >= 0:
				v.add(Invalid, f, k+"=<redacted>", "must not contain NUL")
			}
		}
	}
	return v.errs.errorOrNil()
}
