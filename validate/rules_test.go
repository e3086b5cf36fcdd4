package validate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/validate"
)

const secret = "hunter2-s3cr3t"

// Errors name fields as the document wrote them: envs.NAME for an envs
// object, access_point for the single access point (which the spec holds
// as access_points[0]).
func TestWrittenPaths(t *testing.T) {
	doc, err := product.Decode([]byte(`{"product_name": "shop", "stack_deps": [[
 {"stack_name": "web", "services": [
  {"service_name": "a", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1"},
   "envs": {"GOOD": "1", "1BAD": "` + secret + `", "NUL": "a\u0000b"},
   "access_point": {"type": "domain", "backend_ports": [0]},
   "access_points": [{"type": "tcp", "backend_ports": [1]}]},
  {"service_name": "b", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1"},
   "envs": ["GOOD=1", "1BAD=` + secret + `"],
   "access_points": [{"type": "domain", "backend_ports": [0]}]}]}]]}`))
	if err != nil {
		t.Fatal(err)
	}
	const a, b = "stack_deps[0][0].services[0]", "stack_deps[0][0].services[1]"
	want := []problem{
		{a + ".envs.1BAD", validate.Invalid},
		{a + ".envs.NUL", validate.Invalid},
		{a + ".access_point.backend_ports[0]", validate.Invalid},
		{a + ".access_points[0].type", validate.NotSupported},
		{b + ".envs[1]", validate.Invalid},
		{b + ".access_points[0].backend_ports[0]", validate.Invalid},
	}
	err = validate.Document(doc, nil)
	checkProblems(t, err, want)
	if strings.Contains(err.Error(), secret) {
		t.Errorf("an env value is shown: %v", err)
	}

	// A spec decoded on its own passes its shorthands in Options.
	var body struct {
		StackDeps stack.Deps `json:"stack_deps"`
	}
	sh, err := product.DecodeJSONShorthands([]byte(`{"stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "a", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1"},
   "envs": {"1BAD": "x"}, "access_point": {"type": "domain", "backend_ports": [0]}}]}]]}`), &body)
	if err != nil {
		t.Fatal(err)
	}
	err = validate.Deps(body.StackDeps, &validate.Options{Shorthands: sh})
	var ve *validate.Error
	if errors.As(err, &ve); len(ve.Errors) != 2 || ve.Errors[1].Field != a+".access_point.backend_ports[0]" {
		t.Errorf("Deps: %v", err)
	}
	// Without them, the spec's own paths.
	err = validate.Deps(body.StackDeps, nil)
	if errors.As(err, &ve); ve.Errors[0].Field != a+".envs[0]" || ve.Errors[1].Field != a+".access_points[0].backend_ports[0]" {
		t.Errorf("Deps without shorthands: %v", err)
	}
}

// Values an engine cannot run are refused where the engine would refuse
// them, naming the field and never showing an env value.
func TestValueRules(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"NUL in an env value", nil, func(d *product.Document) { svc(d, 0, 0).Envs = []string{"PASSWORD=" + secret + "\x00x"} },
			[]problem{{mysql + ".envs[0]", validate.Invalid}}},
		{"invalid UTF-8 in an env value", nil, func(d *product.Document) { svc(d, 0, 0).Envs = []string{"PASSWORD=" + secret + "\xff"} },
			[]problem{{mysql + ".envs[0]", validate.Invalid}}},
		{"NUL in an env name", nil, func(d *product.Document) { svc(d, 0, 0).Envs = []string{"PASS\x00WORD=" + secret} },
			[]problem{{mysql + ".envs[0]", validate.Invalid}}},
		{"control characters in env values run", nil, func(d *product.Document) {
			svc(d, 0, 0).Envs = []string{"CERT=-----BEGIN-----\nabc\n-----END-----\n", "TAB=a\tb"}
		}, nil},
		{"NUL in a command", nil, func(d *product.Document) { svc(d, 0, 0).Command = []string{"mysqld", "--x=\x00"} },
			[]problem{{mysql + ".command[1]", validate.Invalid}}},
		{"invalid UTF-8 in a command", nil, func(d *product.Document) { svc(d, 0, 0).Command = []string{"\xfe"} },
			[]problem{{mysql + ".command[0]", validate.Invalid}}},
		{"line breaks in a command run", nil, func(d *product.Document) { svc(d, 0, 0).Command = []string{"sh", "-c", "a\nb"} }, nil},
		{"NUL in an init script", nil, func(d *product.Document) {
			d.StackDeps[1][0].InitScripts = []stack.InitScript{{ServiceName: "authproxy-in", Command: []string{"a\x00"}}}
		}, []problem{{kodo1Stack + ".init_scripts[0].command[0]", validate.Invalid}}},
		{"NUL in a probe command", nil, func(d *product.Document) {
			svc(d, 0, 0).Readiness = &stack.Probe{Type: "exec", Command: []string{"a\x00"}}
		}, []problem{{mysql + ".readiness_probe.command[0]", validate.Invalid}}},
		{"NUL in a config path", nil, func(d *product.Document) { svc(d, 1, 0).ConfigPaths = []string{"/etc/a\x00b"} },
			[]problem{{kodo1 + ".config_paths[0]", validate.Invalid}}},
		{"a line break in a config path", nil, func(d *product.Document) { svc(d, 1, 0).ConfigPaths = []string{"/etc/a\nb"} },
			[]problem{{kodo1 + ".config_paths[0]", validate.Invalid}}},
		{"invalid UTF-8 in a mount path", nil, func(d *product.Document) { svc(d, 0, 0).VolumeArgs[0].MountPath = "/data/\xff" },
			[]problem{{mysql + ".volume_args[0].mount_path", validate.Invalid}}},
		{"a space in a probe path", nil, func(d *product.Document) {
			svc(d, 0, 0).Readiness = &stack.Probe{Type: "http", Port: 80, Path: "/health check"}
		}, []problem{{mysql + ".readiness_probe.path", validate.Invalid}}},
	})
	doc := seed()
	svc(doc, 0, 0).Envs = []string{"PASSWORD=" + secret + "\x00", "TOKEN=" + secret + "\xff"}
	err := validate.Document(doc, nil)
	if err == nil || strings.Contains(fmt.Sprintf("%v %#v", err, err), secret) {
		t.Errorf("an env value is shown: %v", err)
	}
}

// Names a person reads must read as they are stored.
func TestNameRules(t *testing.T) {
	name := func(s string) func(*product.Document) { return func(d *product.Document) { d.Name = s } }
	var cases []ruleCase
	for _, bad := range []struct{ name, s string }{
		{"a leading space", " kodo"},
		{"a trailing space", "kodo "},
		{"a trailing no-break space", "kodo\u00a0"},
		{"a leading ideographic space", "\u3000kodo"},
		{"a tab", "ko\tdo"},
		{"a line break", "ko\ndo"},
		{"NUL", "ko\x00do"},
		{"DEL", "ko\x7fdo"},
		{"a zero-width space", "ko\u200bdo"},
		{"a zero-width joiner", "ko\u200ddo"},
		{"a byte order mark", "\ufeffkodo"},
		{"a right-to-left override", "kodo\u202egpj.exe"},
		{"a left-to-right isolate", "\u2066kodo"},
		{"a line separator", "ko\u2028do"},
		{"invalid UTF-8", "kodo\xff"},
		{"a product ID", "prod-0123456789abcdef"},
		{"a version ID", "pv-0123456789abcdef"},
		{"a template ID", "tpl-0123456789abcdef"},
	} {
		cases = append(cases, ruleCase{"product name with " + bad.name, nil, name(bad.s), []problem{{"product_name", validate.Invalid}}})
	}
	for _, good := range []string{"kodo double", "kodo-double", "Kodo 2.0 (beta)", "产品", "prod-eu", "prod-0123456789abcde", "café"} {
		cases = append(cases, ruleCase{"product name " + good, nil, name(good), nil})
	}
	cases = append(cases,
		ruleCase{"provider with a zero-width space", nil, func(d *product.Document) { d.ProviderName = "Qi\u200bniu" },
			[]problem{{"provider_name", validate.Invalid}}},
		ruleCase{"version with a trailing space", nil, func(d *product.Document) { d.VersionName = "v1 " },
			[]problem{{"version_name", validate.Invalid}}},
		ruleCase{"tag key with a direction mark", nil, func(d *product.Document) { d.Tags = map[string]string{"te\u200fam": "x"} },
			[]problem{{`tags["te\u200fam"]`, validate.Invalid}}},
		ruleCase{"description with a right-to-left override", nil, func(d *product.Document) { d.Description = "safe \u202eexe.txt" },
			[]problem{{"description", validate.Invalid}}},
		ruleCase{"description with spaces around", nil, func(d *product.Document) { d.Description = " free text " }, nil},
	)
	runRuleCases(t, cases)
}

// Limits are checked when set, each naming its field and its name.
func TestLimits(t *testing.T) {
	big := func(tiers, stacks, services, envs, instances int) *product.Document {
		d := &product.Document{Name: "big"}
		for ti := range tiers {
			var tier stack.Tier
			for si := range stacks {
				st := stack.Stack{Name: fmt.Sprintf("s%d-%d", ti, si)}
				for k := range services {
					sv := stack.Service{Name: fmt.Sprintf("v%d", k), UnitType: "1U1G", Image: stack.Image{Name: "x", Tag: "1"}, Instances: instances,
						AccessPoints: []stack.AccessPoint{{Type: "internal_ip", BackendPorts: []int{80, 81}}}}
					for e := range envs {
						sv.Envs = append(sv.Envs, fmt.Sprintf("E%d=%d", e, e))
					}
					st.Services = append(st.Services, sv)
				}
				tier = append(tier, st)
			}
			d.StackDeps = append(d.StackDeps, tier)
		}
		return d
	}
	lim := &validate.Limits{Tiers: 2, StacksPerTier: 3, Services: 10, EnvsPerService: 2, InstancesPerService: 5, Instances: 40, Ports: 12}
	opts := &validate.Options{Limits: lim}
	for _, c := range []struct {
		name  string
		doc   *product.Document
		field string
		limit string
	}{
		{"tiers", big(3, 1, 1, 0, 0), "stack_deps", "max-tiers"},
		{"stacks in a tier", big(1, 4, 1, 0, 0), "stack_deps[0]", "max-stacks-per-tier"},
		{"services", big(2, 3, 2, 0, 0), "stack_deps", "max-services"},
		{"envs of a service", big(1, 1, 1, 3, 0), "stack_deps[0][0].services[0].envs", "max-envs-per-service"},
		{"instances of a service", big(1, 1, 1, 0, 6), "stack_deps[0][0].services[0].instances", "max-instances-per-service"},
		{"instances of a deployment", big(1, 3, 3, 0, 5), "stack_deps", "max-instances"},
		{"ports", big(1, 1, 7, 0, 0), "stack_deps", "max-ports"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := validate.Document(c.doc, opts)
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("want problems, got %v", err)
			}
			var fe *validate.FieldError
			for _, e := range ve.Errors {
				if strings.Contains(e.Detail, "(limit "+c.limit+")") {
					fe = e
				}
			}
			if fe == nil || fe.Field != c.field || fe.Type != validate.TooMany {
				t.Errorf("got %v", err)
			}
			if err := validate.Document(c.doc, nil); err != nil {
				t.Errorf("without limits: %v", err)
			}
			if err := validate.Document(c.doc, &validate.Options{Limits: &validate.Limits{Tiers: -1, StacksPerTier: -1, Services: -1, EnvsPerService: -1, InstancesPerService: -1, Instances: -1, Ports: -1}}); err != nil {
				t.Errorf("with negative limits: %v", err)
			}
		})
	}
	if err := validate.Document(big(2, 3, 1, 2, 5), opts); err != nil { // 6 services, 12 ports
		t.Errorf("at every limit: %v", err)
	}
	// The defaults take real products of a few thousand services.
	if err := validate.Document(big(10, 100, 5, 20, 2), &validate.Options{Limits: &validate.Limits{Ports: 10_000}}); err != nil {
		t.Errorf("5,000 services: %v", err)
	}
	if err := validate.Document(big(10, 100, 5, 0, 3), &validate.Options{Limits: validate.DefaultLimits()}); err == nil {
		t.Error("15,000 instances pass the default limits")
	}
	d := validate.DefaultLimits()
	if *d != (validate.Limits{DocumentBytes: 4 << 20, Tiers: 100, StacksPerTier: 1000, Services: 5000, EnvsPerService: 1000, InstancesPerService: 1000, Instances: 10000, Ports: 10000}) {
		t.Errorf("defaults %+v", *d)
	}
	if err := (&validate.Limits{InstancesPerService: validate.MaxInstances + 1}).Check(); err == nil {
		t.Error("Check takes an instance limit the rules refuse")
	}

	// The size of a document as sent.
	err := validate.Size(5<<20, &validate.Options{Limits: validate.DefaultLimits()})
	var ve *validate.Error
	if !errors.As(err, &ve) || ve.Errors[0].Type != validate.TooLong || ve.Errors[0].Field != "" ||
		err.Error() != "invalid product name or stack deps: Too long: the document must be at most 4194304 bytes (limit max-document-bytes), got 5242880" {
		t.Errorf("size: %v", err)
	}
	if validate.Size(4<<20, &validate.Options{Limits: validate.DefaultLimits()}) != nil || validate.Size(1<<30, nil) != nil {
		t.Error("size within the limit, or without limits")
	}
}
