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

// seed returns the seed document of the product format (kodo-double) as
// values, so each case can break one thing in it.
func seed() *product.Document {
	authproxy := func(stackName string) stack.Service {
		return stack.Service{
			Name: "authproxy-in", UnitType: "1U1G",
			AccessPoints: []stack.AccessPoint{{Type: "domain", BackendPorts: []int{9085}}},
			Image:        stack.Image{Name: "authproxy-in." + stackName, Tag: "latest"},
			ConfigPaths:  []string{"/authproxy_in/qboxauthproxy.conf"},
		}
	}
	return &product.Document{
		Name: "kodo-double",
		StackDeps: stack.Deps{
			{{Name: "mysql-cluster", Services: []stack.Service{{
				Name: "mysql-1", UnitType: "1U1G",
				Image:      stack.Image{Name: "mysql", Tag: "latest"},
				Envs:       []string{"MYSQL_ALLOW_EMPTY_PASSWORD=1"},
				Command:    []string{"mysqld", "--server-id=1"},
				VolumeArgs: []stack.VolumeArg{{MountPath: "/var/lib/mysql", UnitType: "SSD1_10G"}},
			}}}},
			{
				{Name: "kodo-1", Services: []stack.Service{authproxy("kodo-1")}},
				{Name: "kodo-2", Services: []stack.Service{authproxy("kodo-2")}},
			},
		},
	}
}

// Paths of the seed's parts.
const (
	mysqlStack = "stack_deps[0][0]"
	mysql      = "stack_deps[0][0].services[0]"
	kodo1Stack = "stack_deps[1][0]"
	kodo1      = "stack_deps[1][0].services[0]"
	kodo2Stack = "stack_deps[1][1]"
	kodo2      = "stack_deps[1][1].services[0]"
)

// problem is an expected field error.
type problem struct {
	field string
	typ   validate.ErrorType
}

type ruleCase struct {
	name   string
	opts   *validate.Options
	mutate func(d *product.Document)
	want   []problem // nil: valid
}

func svc(d *product.Document, tier, st int) *stack.Service {
	return &d.StackDeps[tier][st].Services[0]
}

func ports(n ...int) []int { return n }

func repeat(s string, n int) string { return strings.Repeat(s, n) }

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := seed()
			c.mutate(doc)
			checkProblems(t, validate.Document(doc, c.opts), c.want)
		})
	}
}

// checkProblems asserts that err lists exactly want, in order, and has
// the error shape callers rely on.
func checkProblems(t *testing.T, err error, want []problem) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %v, got no error", want)
	}
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Fatalf("error %T is not a *validate.Error: %v", err, err)
	}
	if !errors.Is(err, validate.ErrInvalid) {
		t.Errorf("error does not match ErrInvalid: %v", err)
	}
	if errors.Is(err, product.ErrInvalidArgs) {
		t.Errorf("a rule error matches ErrInvalidArgs: %v", err)
	}
	var got []problem
	for _, fe := range ve.Errors {
		got = append(got, problem{fe.Field, fe.Type})
		if !strings.HasPrefix(fe.Error(), fe.Field+": ") {
			t.Errorf("%q does not start with its field path", fe.Error())
		}
		if strings.ContainsAny(fe.Error(), "\n\r") {
			t.Errorf("%q spans lines", fe.Error())
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("problems:\n got %v\nwant %v\nerror: %v", got, want, err)
	}
}

func TestSeedIsValid(t *testing.T) {
	if err := validate.Document(seed(), nil); err != nil {
		t.Fatal(err)
	}
	if err := validate.Deps(seed().StackDeps, nil); err != nil {
		t.Fatal(err)
	}
}

func TestNames(t *testing.T) {
	stackName := func(name string) func(*product.Document) {
		return func(d *product.Document) { d.StackDeps[1][0].Name = name }
	}
	serviceName := func(name string) func(*product.Document) {
		return func(d *product.Document) { svc(d, 1, 0).Name = name }
	}
	runRuleCases(t, []ruleCase{
		{"stack one letter", nil, stackName("a"), nil},
		{"stack digits and dashes", nil, stackName("0-a-9"), nil},
		{"stack upper case", nil, stackName("Kodo-1"), []problem{{kodo1Stack + ".stack_name", validate.Invalid}}},
		{"stack leading dash", nil, stackName("-kodo"), []problem{{kodo1Stack + ".stack_name", validate.Invalid}}},
		{"stack trailing dash", nil, stackName("kodo-"), []problem{{kodo1Stack + ".stack_name", validate.Invalid}}},
		{"stack underscore", nil, stackName("kodo_1"), []problem{{kodo1Stack + ".stack_name", validate.Invalid}}},
		{"stack dot", nil, stackName("kodo.1"), []problem{{kodo1Stack + ".stack_name", validate.Invalid}}},
		{"stack non-ASCII", nil, stackName("kodö"), []problem{{kodo1Stack + ".stack_name", validate.Invalid}}},
		{"stack empty", nil, stackName(""), []problem{{kodo1Stack + ".stack_name", validate.Required}}},
		// 64 characters: too long as a label, and with "-authproxy-in".
		{"stack too long", nil, stackName(repeat("a", 64)), []problem{
			{kodo1Stack + ".stack_name", validate.TooLong},
			{kodo1 + ".service_name", validate.TooLong},
		}},
		{"stack and service at 63", nil, func(d *product.Document) {
			d.StackDeps[1][0].Name = repeat("a", 61)
			svc(d, 1, 0).Name = "b"
		}, nil},
		{"stack and service at 64", nil, func(d *product.Document) {
			d.StackDeps[1][0].Name = repeat("a", 31)
			svc(d, 1, 0).Name = repeat("b", 32)
		}, []problem{{kodo1 + ".service_name", validate.TooLong}}},
		{"service upper case", nil, serviceName("Proxy"), []problem{{kodo1 + ".service_name", validate.Invalid}}},
		{"service empty", nil, serviceName(""), []problem{{kodo1 + ".service_name", validate.Required}}},
		{"service 63", nil, func(d *product.Document) {
			d.StackDeps[1][0].Name = "k"
			svc(d, 1, 0).Name = repeat("s", 61)
		}, nil},
		{"duplicate stack in another tier", nil, stackName("mysql-cluster"),
			[]problem{{kodo1Stack + ".stack_name", validate.Duplicate}}},
		{"duplicate stack in the same tier", nil, func(d *product.Document) { d.StackDeps[1][1].Name = "kodo-1" },
			[]problem{{kodo2Stack + ".stack_name", validate.Duplicate}}},
		{"same service name in two stacks", nil, func(d *product.Document) {}, nil},
		{"duplicate service", nil, func(d *product.Document) {
			s := &d.StackDeps[1][0]
			s.Services = append(s.Services, s.Services[0])
			s.Services[1].Image.Tag = "v2"
		}, []problem{{kodo1Stack + ".services[1].service_name", validate.Duplicate}}},
		{"duplicate service in a large stack", nil, func(d *product.Document) {
			s := &d.StackDeps[1][0]
			for i := 1; i <= 12; i++ {
				sv := s.Services[0]
				sv.Name = fmt.Sprintf("svc-%d", i%11)
				s.Services = append(s.Services, sv)
			}
		}, []problem{{kodo1Stack + ".services[12].service_name", validate.Duplicate}}},
	})
}

func TestStructure(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"no stack_deps", nil, func(d *product.Document) { d.StackDeps = nil },
			[]problem{{"stack_deps", validate.Required}}},
		{"empty stack_deps", nil, func(d *product.Document) { d.StackDeps = stack.Deps{} },
			[]problem{{"stack_deps", validate.Required}}},
		{"empty tier", nil, func(d *product.Document) { d.StackDeps = append(d.StackDeps, stack.Tier{}) },
			[]problem{{"stack_deps[2]", validate.Required}}},
		{"empty first tier", nil, func(d *product.Document) { d.StackDeps = append(stack.Deps{{}}, d.StackDeps...) },
			[]problem{{"stack_deps[0]", validate.Required}}},
		{"stack without services", nil, func(d *product.Document) { d.StackDeps[1][1].Services = nil },
			[]problem{{kodo2Stack + ".services", validate.Required}}},
		{"stack with an empty services list", nil, func(d *product.Document) { d.StackDeps[1][1].Services = []stack.Service{} },
			[]problem{{kodo2Stack + ".services", validate.Required}}},
	})
}

func TestImage(t *testing.T) {
	img := func(name, tag, digest string) func(*product.Document) {
		return func(d *product.Document) { svc(d, 0, 0).Image = stack.Image{Name: name, Tag: tag, Digest: digest} }
	}
	const dgst = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	const name, tag, dig = mysql + ".image.name", mysql + ".image.tag", mysql + ".image.digest"
	runRuleCases(t, []ruleCase{
		{"short name", nil, img("mysql", "8.0", ""), nil},
		{"path", nil, img("library/mysql", "8", ""), nil},
		{"registry with port", nil, img("registry.example.com:5000/team/app", "v1.2.3", ""), nil},
		{"fully qualified", nil, img("docker.io/library/mysql", "latest", ""), nil},
		{"digest only", nil, img("mysql", "", dgst), nil},
		{"tag and digest", nil, img("mysql", "8.0", dgst), nil},
		{"tag with every allowed character", nil, img("mysql", "V1.0_rc-2", ""), nil},
		{"tag of 128", nil, img("mysql", repeat("t", 128), ""), nil},
		{"name missing", nil, img("", "latest", ""), []problem{{name, validate.Required}}},
		{"name upper case", nil, img("MySQL", "latest", ""), []problem{{name, validate.Invalid}}},
		{"name double slash", nil, img("a//b", "latest", ""), []problem{{name, validate.Invalid}}},
		{"name trailing slash", nil, img("mysql/", "latest", ""), []problem{{name, validate.Invalid}}},
		{"name with a tag", nil, img("mysql:8.0", "latest", ""), []problem{{name, validate.Invalid}}},
		{"name with a digest", nil, img("mysql@"+dgst, "latest", ""), []problem{{name, validate.Invalid}}},
		{"name is a 64-hex ID", nil, img(dgst[7:], "latest", ""), []problem{{name, validate.Invalid}}},
		{"no tag and no digest", nil, img("mysql", "", ""), []problem{{tag, validate.Required}}},
		{"tag starting with a dot", nil, img("mysql", ".x", ""), []problem{{tag, validate.Invalid}}},
		{"tag starting with a dash", nil, img("mysql", "-x", ""), []problem{{tag, validate.Invalid}}},
		{"tag with a colon", nil, img("mysql", "a:b", ""), []problem{{tag, validate.Invalid}}},
		{"tag of 129", nil, img("mysql", repeat("t", 129), ""), []problem{{tag, validate.Invalid}}},
		{"short digest", nil, img("mysql", "", "sha256:abc"), []problem{{dig, validate.Invalid}}},
		{"digest without algorithm", nil, img("mysql", "", dgst[7:]), []problem{{dig, validate.Invalid}}},
		{"unknown digest algorithm", nil, img("mysql", "latest", "md5:d41d8cd98f00b204e9800998ecf8427e"), []problem{{dig, validate.Invalid}}},
		{"everything wrong", nil, img("A", "", "x"), []problem{{name, validate.Invalid}, {dig, validate.Invalid}}},
	})
}

func TestEnvs(t *testing.T) {
	envs := func(kv ...string) func(*product.Document) {
		return func(d *product.Document) { svc(d, 0, 0).Envs = kv }
	}
	f := func(i int) string { return fmt.Sprintf("%s.envs[%d]", mysql, i) }
	many := make([]string, 0, 12)
	for i := range 11 {
		many = append(many, fmt.Sprintf("K%d=v", i))
	}
	runRuleCases(t, []ruleCase{
		{"none", nil, envs(), nil},
		{"plain", nil, envs("A=1", "_b=", "c_9=x=y", "D="), nil},
		{"no value", nil, envs("A"), []problem{{f(0), validate.Invalid}}},
		{"empty entry", nil, envs(""), []problem{{f(0), validate.Invalid}}},
		{"empty key", nil, envs("=v"), []problem{{f(0), validate.Invalid}}},
		{"key starting with a digit", nil, envs("1A=v"), []problem{{f(0), validate.Invalid}}},
		{"key with a dash", nil, envs("A-B=v"), []problem{{f(0), validate.Invalid}}},
		{"key with a dot", nil, envs("a.b=v"), []problem{{f(0), validate.Invalid}}},
		{"duplicate", nil, envs("A=1", "B=2", "A=3"), []problem{{f(2), validate.Duplicate}}},
		{"keys differ in case", nil, envs("A=1", "a=2"), nil},
		{"duplicate among many", nil, envs(append(many, "K3=again")...), []problem{{f(11), validate.Duplicate}}},
		{"each bad entry", nil, envs("A=1", "1=x", "A=2", "B"), []problem{
			{f(1), validate.Invalid}, {f(2), validate.Duplicate}, {f(3), validate.Invalid},
		}},
	})
}

// Env values hold secrets: no error text may show them.
func TestEnvValuesNeverShown(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	doc := seed()
	svc(doc, 0, 0).Envs = []string{
		"PASSWORD=" + secret, "PASSWORD=" + secret, // duplicate
		"1BAD=" + secret, // bad key
		secret,           // no '='
		"bad key=" + secret,
	}
	err := validate.Document(doc, nil)
	if err == nil {
		t.Fatal("want errors")
	}
	var ve *validate.Error
	errors.As(err, &ve)
	if len(ve.Errors) != 4 {
		t.Fatalf("want 4 problems, got %v", err)
	}
	texts := []string{err.Error()}
	for _, fe := range ve.Errors {
		texts = append(texts, fe.Error(), fmt.Sprint(fe.BadValue), fmt.Sprintf("%+v", *fe))
	}
	for _, s := range texts {
		if strings.Contains(s, secret) || strings.Contains(s, "hunter2") {
			t.Errorf("error text shows an env value: %s", s)
		}
	}
	if got := ve.Errors[0].BadValue; got != "PASSWORD=<redacted>" {
		t.Errorf("duplicate shows %q, want the key and a redacted value", got)
	}
}

func TestCommand(t *testing.T) {
	cmd := func(args ...string) func(*product.Document) {
		return func(d *product.Document) { svc(d, 0, 0).Command = args }
	}
	runRuleCases(t, []ruleCase{
		{"none", nil, cmd(), nil},
		{"args", nil, cmd("sh", "-c", "echo $HOME"), nil},
		{"empty arg", nil, cmd("mysqld", "", "x", ""), []problem{
			{mysql + ".command[1]", validate.Invalid}, {mysql + ".command[3]", validate.Invalid},
		}},
	})
}

func TestPaths(t *testing.T) {
	mount := func(p string) func(*product.Document) {
		return func(d *product.Document) { svc(d, 0, 0).VolumeArgs[0].MountPath = p }
	}
	config := func(p ...string) func(*product.Document) {
		return func(d *product.Document) { svc(d, 1, 0).ConfigPaths = p }
	}
	const mp = mysql + ".volume_args[0].mount_path"
	cp := func(i int) string { return fmt.Sprintf("%s.config_paths[%d]", kodo1, i) }
	runRuleCases(t, []ruleCase{
		{"mount deep", nil, mount("/a/b/c"), nil},
		{"mount with dots in a name", nil, mount("/data/.hidden/x.y"), nil},
		{"mount empty", nil, mount(""), []problem{{mp, validate.Required}}},
		{"mount relative", nil, mount("var/lib/mysql"), []problem{{mp, validate.Invalid}}},
		{"mount dot-relative", nil, mount("./data"), []problem{{mp, validate.Invalid}}},
		{"mount parent", nil, mount("/var/../etc"), []problem{{mp, validate.Invalid}}},
		{"mount trailing parent", nil, mount("/var/.."), []problem{{mp, validate.Invalid}}},
		{"mount trailing slash", nil, mount("/var/lib/"), []problem{{mp, validate.Invalid}}},
		{"mount double slash", nil, mount("/var//lib"), []problem{{mp, validate.Invalid}}},
		{"mount dot", nil, mount("/var/./lib"), []problem{{mp, validate.Invalid}}},
		{"mount root", nil, mount("/"), []problem{{mp, validate.Invalid}}},
		{"two mounts", nil, func(d *product.Document) {
			s := svc(d, 0, 0)
			s.VolumeArgs = append(s.VolumeArgs, stack.VolumeArg{MountPath: "/var/log/mysql", UnitType: "SSD1_10G"})
		}, nil},
		{"duplicate mount", nil, func(d *product.Document) {
			s := svc(d, 0, 0)
			s.VolumeArgs = append(s.VolumeArgs, s.VolumeArgs[0])
		}, []problem{{mysql + ".volume_args[1].mount_path", validate.Duplicate}}},
		{"configs", nil, config("/etc/a.conf", "/etc/b.conf"), nil},
		{"no configs", nil, config(), nil},
		{"config relative", nil, config("etc/a.conf"), []problem{{cp(0), validate.Invalid}}},
		{"config unclean", nil, config("/etc/../a.conf"), []problem{{cp(0), validate.Invalid}}},
		{"config empty", nil, config("/etc/a", ""), []problem{{cp(1), validate.Required}}},
		{"duplicate config", nil, config("/etc/a", "/etc/b", "/etc/a"), []problem{{cp(2), validate.Duplicate}}},
		{"config on a mount path", nil, func(d *product.Document) {
			svc(d, 0, 0).ConfigPaths = []string{"/var/lib/mysql"}
		}, []problem{{mysql + ".config_paths[0]", validate.Duplicate}}},
		{"config under a mount path", nil, func(d *product.Document) {
			svc(d, 0, 0).ConfigPaths = []string{"/var/lib/mysql/my.cnf"}
		}, nil},
		{"many paths with a duplicate", nil, func(d *product.Document) {
			var p []string
			for i := range 10 {
				p = append(p, fmt.Sprintf("/etc/%d", i))
			}
			svc(d, 1, 0).ConfigPaths = append(p, "/etc/4")
		}, []problem{{cp(10), validate.Duplicate}}},
	})
}

func TestAccessPoints(t *testing.T) {
	aps := func(a ...stack.AccessPoint) func(*product.Document) {
		return func(d *product.Document) { svc(d, 1, 0).AccessPoints = a }
	}
	ap := func(i int, field string) string { return fmt.Sprintf("%s.access_points[%d].%s", kodo1, i, field) }
	runRuleCases(t, []ruleCase{
		{"none", nil, aps(), nil},
		{"every type", nil, aps(
			stack.AccessPoint{Type: "domain", BackendPorts: ports(80), Proto: "http"},
			stack.AccessPoint{Type: "public_ip", BackendPorts: ports(443), Proto: "tcp"},
			stack.AccessPoint{Type: "internal_ip", BackendPorts: ports(1, 65535)},
			stack.AccessPoint{Type: "internal_ip", BackendPorts: ports(53), Proto: "udp"},
		), nil},
		{"same port over tcp and udp", nil, aps(
			stack.AccessPoint{Type: "public_ip", BackendPorts: ports(53)},
			stack.AccessPoint{Type: "public_ip", BackendPorts: ports(53), Proto: "udp"},
		), nil},
		{"type missing", nil, aps(stack.AccessPoint{BackendPorts: ports(80)}), []problem{{ap(0, "type"), validate.Required}}},
		{"type unknown", nil, aps(stack.AccessPoint{Type: "loadbalancer", BackendPorts: ports(80)}), []problem{{ap(0, "type"), validate.NotSupported}}},
		{"proto unknown", nil, aps(stack.AccessPoint{Type: "public_ip", BackendPorts: ports(80), Proto: "sctp"}), []problem{{ap(0, "proto"), validate.NotSupported}}},
		{"domain over udp", nil, aps(stack.AccessPoint{Type: "domain", BackendPorts: ports(80), Proto: "udp"}), []problem{{ap(0, "proto"), validate.NotSupported}}},
		{"domain over tcp", nil, aps(stack.AccessPoint{Type: "domain", BackendPorts: ports(80), Proto: "tcp"}), []problem{{ap(0, "proto"), validate.NotSupported}}},
		{"no ports", nil, aps(stack.AccessPoint{Type: "domain"}), []problem{{ap(0, "backend_ports"), validate.Required}}},
		{"port 0 and 65536", nil, aps(stack.AccessPoint{Type: "public_ip", BackendPorts: ports(0, 8080, 65536, -1)}), []problem{
			{ap(0, "backend_ports[0]"), validate.Invalid}, {ap(0, "backend_ports[2]"), validate.Invalid}, {ap(0, "backend_ports[3]"), validate.Invalid},
		}},
		{"duplicate port", nil, aps(stack.AccessPoint{Type: "public_ip", BackendPorts: ports(80, 81, 80)}), []problem{{ap(0, "backend_ports[2]"), validate.Duplicate}}},
		{"duplicate port across access points", nil, aps(
			stack.AccessPoint{Type: "domain", BackendPorts: ports(8080)},
			stack.AccessPoint{Type: "internal_ip", BackendPorts: ports(8080)},
		), []problem{{ap(1, "backend_ports[0]"), validate.Duplicate}}},
		{"duplicate among many ports", nil, aps(stack.AccessPoint{Type: "internal_ip", BackendPorts: ports(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3)}),
			[]problem{{ap(0, "backend_ports[10]"), validate.Duplicate}}},
		{"host ports", nil, aps(stack.AccessPoint{Type: "public_ip", BackendPorts: ports(80, 443), HostPorts: ports(8080, 0)}), nil},
		{"host ports assigned by the runtime", nil, aps(
			stack.AccessPoint{Type: "public_ip", BackendPorts: ports(80, 443), HostPorts: ports(0, 0)},
		), nil},
		{"host ports of another length", nil, aps(stack.AccessPoint{Type: "public_ip", BackendPorts: ports(80, 443), HostPorts: ports(8080)}),
			[]problem{{ap(0, "host_ports"), validate.Invalid}}},
		{"host port out of range", nil, aps(stack.AccessPoint{Type: "public_ip", BackendPorts: ports(80, 443), HostPorts: ports(-1, 65536)}),
			[]problem{{ap(0, "host_ports[0]"), validate.Invalid}, {ap(0, "host_ports[1]"), validate.Invalid}}},
		{"duplicate host port", nil, aps(
			stack.AccessPoint{Type: "public_ip", BackendPorts: ports(80), HostPorts: ports(8080)},
			stack.AccessPoint{Type: "public_ip", BackendPorts: ports(81), HostPorts: ports(8080)},
		), []problem{{ap(1, "host_ports[0]"), validate.Duplicate}}},
	})
}

func TestUnitTypes(t *testing.T) {
	unit := func(u string) func(*product.Document) {
		return func(d *product.Document) { svc(d, 0, 0).UnitType = u }
	}
	volume := func(u string) func(*product.Document) {
		return func(d *product.Document) { svc(d, 0, 0).VolumeArgs[0].UnitType = u }
	}
	const ut, vt = mysql + ".unit_type", mysql + ".volume_args[0].unit_type"
	var cases []ruleCase
	for _, u := range stack.DefaultCatalog().UnitNames() {
		cases = append(cases, ruleCase{"unit " + u, nil, unit(u), nil})
	}
	cases = append(cases, []ruleCase{
		{"unit missing", nil, unit(""), []problem{{ut, validate.Required}}},
		{"unit by grammar, not in the catalog", nil, unit("3U3G"), []problem{{ut, validate.NotSupported}}},
		{"unit not by grammar", nil, unit("large"), []problem{{ut, validate.NotSupported}}},
		{"unit lower case", nil, unit("1u1g"), []problem{{ut, validate.NotSupported}}},
		{"volume 10G", nil, volume("SSD1_10G"), nil},
		{"volume 100G", nil, volume("SSD1_100G"), nil},
		{"volume 5000G", nil, volume("SSD1_5000G"), nil},
		{"volume missing", nil, volume(""), []problem{{vt, validate.Required}}},
		{"volume not a multiple of 10", nil, volume("SSD1_15G"), []problem{{vt, validate.NotSupported}}},
		{"volume zero", nil, volume("SSD1_0G"), []problem{{vt, validate.NotSupported}}},
		{"volume negative", nil, volume("SSD1_-10G"), []problem{{vt, validate.NotSupported}}},
		{"volume leading zero", nil, volume("SSD1_010G"), []problem{{vt, validate.NotSupported}}},
		{"volume without size", nil, volume("SSD1_G"), []problem{{vt, validate.NotSupported}}},
		{"volume without unit", nil, volume("SSD1_10"), []problem{{vt, validate.NotSupported}}},
		{"volume in TB", nil, volume("SSD1_10T"), []problem{{vt, validate.NotSupported}}},
		{"volume of an unknown class", nil, volume("HDD_10G"), []problem{{vt, validate.NotSupported}}},
		{"volume lower case class", nil, volume("ssd1_10G"), []problem{{vt, validate.NotSupported}}},
	}...)
	runRuleCases(t, cases)
}

// An embedder replaces the catalog: only its sizes are then allowed.
func TestReplacedCatalog(t *testing.T) {
	cat := &stack.Catalog{
		Units:         map[string]stack.Unit{"small": {Name: "small", CPU: 1, MemoryBytes: 512 << 20}, "16U64G": {Name: "16U64G", CPU: 16, MemoryBytes: 64 << 30}},
		VolumeClasses: map[string]stack.VolumeClass{"HDD": {StepGiB: 50, MaxGiB: 500}},
	}
	opts := &validate.Options{Catalog: cat}
	set := func(unit, volume string) func(*product.Document) {
		return func(d *product.Document) {
			for _, tier := range d.StackDeps {
				for i := range tier {
					tier[i].Services[0].UnitType = unit
				}
			}
			svc(d, 0, 0).VolumeArgs[0].UnitType = volume
		}
	}
	const ut, vt = mysql + ".unit_type", mysql + ".volume_args[0].unit_type"
	runRuleCases(t, []ruleCase{
		{"own names", opts, set("small", "HDD_50G"), nil},
		{"own grammar name", opts, set("16U64G", "HDD_500G"), nil},
		{"default unit no longer allowed", opts, func(d *product.Document) {
			set("small", "HDD_100G")(d)
			svc(d, 0, 0).UnitType = "1U1G"
		}, []problem{{ut, validate.NotSupported}}},
		{"default volume class no longer allowed", opts, set("small", "SSD1_10G"), []problem{{vt, validate.NotSupported}}},
		{"step", opts, set("small", "HDD_60G"), []problem{{vt, validate.NotSupported}}},
		{"maximum", opts, set("small", "HDD_550G"), []problem{{vt, validate.NotSupported}}},
		{"nil catalog means the default", &validate.Options{}, func(d *product.Document) {}, nil},
	})
}

// threeTiers appends a third tier with the stack "gateway".
func threeTiers(d *product.Document) *stack.Stack {
	gw := d.StackDeps[1][0]
	gw.Name = "gateway"
	gw.Services = append([]stack.Service(nil), gw.Services...)
	d.StackDeps = append(d.StackDeps, stack.Tier{gw})
	return &d.StackDeps[2][0]
}

func TestDependsOn(t *testing.T) {
	dependsOn := func(names ...string) func(*product.Document) {
		return func(d *product.Document) { threeTiers(d).DependsOn = names }
	}
	f := func(i int) string { return fmt.Sprintf("stack_deps[2][0].depends_on[%d]", i) }
	many := []string{"mysql-cluster", "kodo-1", "kodo-2"}
	for range 8 {
		many = append(many, "kodo-2")
	}
	runRuleCases(t, []ruleCase{
		{"previous tier", nil, dependsOn("kodo-1"), nil},
		{"earlier tier", nil, dependsOn("mysql-cluster"), nil},
		{"several", nil, dependsOn("mysql-cluster", "kodo-2"), nil},
		{"empty list", nil, dependsOn(), nil},
		{"in the first tier", nil, func(d *product.Document) { d.StackDeps[0][0].DependsOn = []string{"kodo-1"} },
			[]problem{{mysqlStack + ".depends_on[0]", validate.Invalid}}},
		{"same tier", nil, func(d *product.Document) { d.StackDeps[1][1].DependsOn = []string{"kodo-1"} },
			[]problem{{kodo2Stack + ".depends_on[0]", validate.Invalid}}},
		{"itself", nil, dependsOn("gateway"), []problem{{f(0), validate.Invalid}}},
		{"later tier", nil, func(d *product.Document) {
			threeTiers(d)
			d.StackDeps[1][0].DependsOn = []string{"mysql-cluster", "gateway"}
		}, []problem{{kodo1Stack + ".depends_on[1]", validate.Invalid}}},
		{"unknown", nil, dependsOn("redis"), []problem{{f(0), validate.NotFound}}},
		{"empty name", nil, dependsOn(""), []problem{{f(0), validate.NotFound}}},
		{"duplicate", nil, dependsOn("kodo-1", "mysql-cluster", "kodo-1"), []problem{{f(2), validate.Duplicate}}},
		{"duplicates in a long list", nil, dependsOn(many...), []problem{
			{f(3), validate.Duplicate}, {f(4), validate.Duplicate}, {f(5), validate.Duplicate}, {f(6), validate.Duplicate},
			{f(7), validate.Duplicate}, {f(8), validate.Duplicate}, {f(9), validate.Duplicate}, {f(10), validate.Duplicate},
		}},
		{"names a stack whose name is invalid", nil, func(d *product.Document) {
			threeTiers(d).DependsOn = []string{"Kodo-1"}
			d.StackDeps[1][0].Name = "Kodo-1"
		}, []problem{{kodo1Stack + ".stack_name", validate.Invalid}, {f(0), validate.NotFound}}},
		// Problems come in document order: the first stack's reference
		// before the later stacks' names.
		{"document order", nil, func(d *product.Document) {
			d.StackDeps[1][0].DependsOn = []string{"nope"}
			d.StackDeps[1][1].Name = "Bad"
		}, []problem{{kodo1Stack + ".depends_on[0]", validate.NotFound}, {kodo2Stack + ".stack_name", validate.Invalid}}},
	})
}

func TestInitScripts(t *testing.T) {
	scripts := func(s ...stack.InitScript) func(*product.Document) {
		return func(d *product.Document) { d.StackDeps[0][0].InitScripts = s }
	}
	f := func(i int, field string) string { return fmt.Sprintf("%s.init_scripts[%d].%s", mysqlStack, i, field) }
	manyServices := func(d *product.Document) {
		s := &d.StackDeps[0][0]
		for i := range 10 {
			sv := s.Services[0]
			sv.Name = fmt.Sprintf("mysql-%d", i+2)
			sv.VolumeArgs = nil
			s.Services = append(s.Services, sv)
		}
	}
	runRuleCases(t, []ruleCase{
		{"runs in a service", nil, scripts(stack.InitScript{ServiceName: "mysql-1", Command: []string{"mysql", "-e", "CREATE DATABASE kodo"}}), nil},
		{"unknown service", nil, scripts(stack.InitScript{ServiceName: "mysql-9", Command: []string{"true"}}), []problem{{f(0, "service_name"), validate.NotFound}}},
		{"service of another stack", nil, scripts(stack.InitScript{ServiceName: "authproxy-in", Command: []string{"true"}}), []problem{{f(0, "service_name"), validate.NotFound}}},
		{"no service", nil, scripts(stack.InitScript{Command: []string{"true"}}), []problem{{f(0, "service_name"), validate.Required}}},
		{"no command", nil, scripts(stack.InitScript{ServiceName: "mysql-1"}), []problem{{f(0, "command"), validate.Required}}},
		{"empty command entry", nil, scripts(stack.InitScript{ServiceName: "mysql-1", Command: []string{"a", ""}}), []problem{{f(0, "command[1]"), validate.Invalid}}},
		{"large stack", nil, func(d *product.Document) {
			manyServices(d)
			scripts(stack.InitScript{ServiceName: "mysql-11", Command: []string{"true"}},
				stack.InitScript{ServiceName: "mysql-12", Command: []string{"true"}})(d)
		}, []problem{{f(1, "service_name"), validate.NotFound}}},
	})
}

func TestReadinessProbe(t *testing.T) {
	probe := func(p stack.Probe) func(*product.Document) {
		return func(d *product.Document) { svc(d, 0, 0).Readiness = &p }
	}
	const f = mysql + ".readiness_probe"
	runRuleCases(t, []ruleCase{
		{"none", nil, func(d *product.Document) {}, nil},
		{"running", nil, probe(stack.Probe{Type: "running"}), nil},
		{"type empty means running", nil, probe(stack.Probe{}), nil},
		{"tcp", nil, probe(stack.Probe{Type: "tcp", Port: 3306, Period: stack.Duration(1e9), Timeout: stack.Duration(60e9)}), nil},
		{"http", nil, probe(stack.Probe{Type: "http", Port: 80, Path: "/healthz", ExpectedCodes: []int{200, 204}}), nil},
		{"http without path", nil, probe(stack.Probe{Type: "http", Port: 80}), nil},
		{"exec", nil, probe(stack.Probe{Type: "exec", Command: []string{"mysqladmin", "ping"}}), nil},
		{"unknown type", nil, probe(stack.Probe{Type: "grpc", Port: 1}), []problem{{f + ".type", validate.NotSupported}}},
		{"tcp without port", nil, probe(stack.Probe{Type: "tcp"}), []problem{{f + ".port", validate.Invalid}}},
		{"tcp port too large", nil, probe(stack.Probe{Type: "tcp", Port: 65536}), []problem{{f + ".port", validate.Invalid}}},
		{"http relative path", nil, probe(stack.Probe{Type: "http", Port: 80, Path: "healthz"}), []problem{{f + ".path", validate.Invalid}}},
		{"http bad codes", nil, probe(stack.Probe{Type: "http", Port: 80, ExpectedCodes: []int{200, 99, 600}}), []problem{
			{f + ".expected_codes[1]", validate.Invalid}, {f + ".expected_codes[2]", validate.Invalid},
		}},
		{"exec without command", nil, probe(stack.Probe{Type: "exec"}), []problem{{f + ".command", validate.Required}}},
		{"exec empty entry", nil, probe(stack.Probe{Type: "exec", Command: []string{""}}), []problem{{f + ".command[0]", validate.Invalid}}},
		{"negative times", nil, probe(stack.Probe{Type: "running", Period: -1, Timeout: -1}), []problem{
			{f + ".period", validate.Invalid}, {f + ".timeout", validate.Invalid},
		}},
	})
}

func TestInstances(t *testing.T) {
	instances := func(n int) func(*product.Document) {
		return func(d *product.Document) { svc(d, 0, 0).Instances = n }
	}
	const f = mysql + ".instances"
	runRuleCases(t, []ruleCase{
		{"absent", nil, instances(0), nil},
		{"one", nil, instances(1), nil},
		{"maximum", nil, instances(validate.MaxInstances), nil},
		{"negative", nil, instances(-1), []problem{{f, validate.Invalid}}},
		{"too many", nil, instances(validate.MaxInstances + 1), []problem{{f, validate.Invalid}}},
	})
}

func TestCatalogFields(t *testing.T) {
	set := func(fn func(d *product.Document)) func(*product.Document) { return fn }
	name := func(s string) func(*product.Document) { return func(d *product.Document) { d.Name = s } }
	runRuleCases(t, []ruleCase{
		{"name of 128 characters", nil, name(repeat("n", 128)), nil},
		{"name of 128 two-byte characters", nil, name(repeat("é", 128)), nil},
		{"name of 128 four-byte characters", nil, name(repeat("😀", 128)), nil},
		{"name with spaces and punctuation", nil, name("Kodo Double (HA) — v2"), nil},
		{"name empty", nil, name(""), []problem{{"product_name", validate.Required}}},
		{"name blank", nil, name("  \t"), []problem{{"product_name", validate.Required}}},
		{"name of 129 characters", nil, name(repeat("n", 129)), []problem{{"product_name", validate.TooLong}}},
		{"name of 129 two-byte characters", nil, name(repeat("é", 129)), []problem{{"product_name", validate.TooLong}}},
		{"name with a line break", nil, name("kodo\ndouble"), []problem{{"product_name", validate.Invalid}}},
		{"name with a tab", nil, name("kodo\tdouble"), []problem{{"product_name", validate.Invalid}}},
		{"name with DEL", nil, name("kodo\x7f"), []problem{{"product_name", validate.Invalid}}},
		{"name with a C1 control", nil, name("kodo\u0085"), []problem{{"product_name", validate.Invalid}}},
		{"name not UTF-8", nil, name("kodo\xff"), []problem{{"product_name", validate.Invalid}}},
		{"provider", nil, set(func(d *product.Document) { d.ProviderName = "Qiniu" }), nil},
		{"provider too long", nil, set(func(d *product.Document) { d.ProviderName = repeat("p", 129) }), []problem{{"provider_name", validate.TooLong}}},
		{"provider control", nil, set(func(d *product.Document) { d.ProviderName = "a\x00b" }), []problem{{"provider_name", validate.Invalid}}},
		{"provider blank", nil, set(func(d *product.Document) { d.ProviderName = " " }), []problem{{"provider_name", validate.Required}}},
		{"description of 128", nil, set(func(d *product.Document) { d.Description = repeat("d", 128) }), nil},
		{"description too long", nil, set(func(d *product.Document) { d.Description = repeat("d", 129) }), []problem{{"description", validate.TooLong}}},
		{"product type", nil, set(func(d *product.Document) { d.ProductType = "storage" }), nil},
		{"product type too long", nil, set(func(d *product.Document) { d.ProductType = repeat("t", 129) }), []problem{{"product_type", validate.TooLong}}},
		{"private", nil, set(func(d *product.Document) { d.Visibility = product.Private }), nil},
		{"public", nil, set(func(d *product.Document) { d.Visibility = product.Public }), nil},
		{"visibility unknown", nil, set(func(d *product.Document) { d.Visibility = "internal" }), []problem{{"visibility", validate.NotSupported}}},
		{"visibility case", nil, set(func(d *product.Document) { d.Visibility = "Public" }), []problem{{"visibility", validate.NotSupported}}},
		{"every guidance", nil, set(func(d *product.Document) {
			for _, g := range []product.Guidance{product.GuidanceDefault, product.GuidanceRecommended, product.GuidanceLatest, product.GuidanceDeprecated} {
				d.Guidance = g
			}
		}), nil},
		{"guidance unknown", nil, set(func(d *product.Document) { d.Guidance = "Stable" }), []problem{{"guidance", validate.NotSupported}}},
		{"guidance case", nil, set(func(d *product.Document) { d.Guidance = "latest" }), []problem{{"guidance", validate.NotSupported}}},
		{"version name", nil, set(func(d *product.Document) { d.VersionName = "v1.0.0" }), nil},
		{"version name too long", nil, set(func(d *product.Document) { d.VersionName = repeat("v", 129) }), []problem{{"version_name", validate.TooLong}}},
		{"version description too long", nil, set(func(d *product.Document) { d.VersionDescription = repeat("v", 129) }), []problem{{"version_description", validate.TooLong}}},
		{"tags", nil, set(func(d *product.Document) { d.Tags = map[string]string{"team": "storage", "tier": ""} }), nil},
		{"tag key empty", nil, set(func(d *product.Document) { d.Tags = map[string]string{"": "x"} }), []problem{{"tags", validate.Required}}},
		{"tag value too long", nil, set(func(d *product.Document) { d.Tags = map[string]string{"team": repeat("v", 257)} }), []problem{{"tags.team", validate.TooLong}}},
		{"tag key too long", nil, set(func(d *product.Document) { d.Tags = map[string]string{repeat("k", 129): "v"} }), []problem{{"tags." + repeat("k", 129), validate.TooLong}}},
		{"tag key with a line break", nil, set(func(d *product.Document) { d.Tags = map[string]string{"a\nb": "v", "z.y": "\x01"} }), []problem{
			{`tags["a\nb"]`, validate.Invalid}, {`tags["z.y"]`, validate.Invalid},
		}},
		{"every catalog field wrong", nil, set(func(d *product.Document) {
			d.Name = ""
			d.ProviderName = repeat("p", 200)
			d.Visibility = "x"
			d.Guidance = "y"
		}), []problem{
			{"product_name", validate.Required}, {"provider_name", validate.TooLong},
			{"visibility", validate.NotSupported}, {"guidance", validate.NotSupported},
		}},
	})
}

func TestTemplateURL(t *testing.T) {
	url := func(u string, keepDeps bool) func(*product.Document) {
		return func(d *product.Document) {
			d.TemplateURL = u
			if !keepDeps {
				d.StackDeps = nil
			}
		}
	}
	runRuleCases(t, []ruleCase{
		{"template instead of stack_deps", nil, url("stackwave://templates/tpl-0123456789abcdef", false), nil},
		{"both", nil, url("stackwave://templates/tpl-0123456789abcdef", true), []problem{{"template_url", validate.Invalid}}},
		{"neither", nil, url("", false), []problem{{"stack_deps", validate.Required}}},
		{"other scheme", nil, url("https://example.com/tpl-1", false), []problem{{"template_url", validate.Invalid}}},
		{"not a template ID", nil, url("stackwave://templates/prod-1", false), []problem{{"template_url", validate.Invalid}}},
		{"with a path", nil, url("stackwave://templates/tpl-1/x", false), []problem{{"template_url", validate.Invalid}}},
		{"with a query", nil, url("stackwave://templates/tpl-1?x=1", false), []problem{{"template_url", validate.Invalid}}},
		// A bad template URL with broken stack_deps reports the conflict
		// alone: the deps are not the spec then.
		{"both, deps broken", nil, func(d *product.Document) {
			d.TemplateURL = "stackwave://templates/tpl-1"
			d.StackDeps[0][0].Name = "BAD"
		}, []problem{{"template_url", validate.Invalid}}},
	})
}

// Every problem is returned, in document order, not just the first.
func TestEveryProblem(t *testing.T) {
	doc := seed()
	doc.Name = ""
	s := svc(doc, 0, 0)
	s.Name = "MySQL"
	s.UnitType = "99U1G"
	s.Image.Tag = ""
	s.Envs = append(s.Envs, "MYSQL_ALLOW_EMPTY_PASSWORD=0")
	s.VolumeArgs[0].MountPath = "relative"
	k := svc(doc, 1, 1)
	k.AccessPoints[0].BackendPorts = []int{0}
	k.ConfigPaths = []string{"/a/"}
	doc.StackDeps[1][0].DependsOn = []string{"unknown"}
	checkProblems(t, validate.Document(doc, nil), []problem{
		{"product_name", validate.Required},
		{mysql + ".service_name", validate.Invalid},
		{mysql + ".unit_type", validate.NotSupported},
		{mysql + ".image.tag", validate.Required},
		{mysql + ".envs[1]", validate.Duplicate},
		{mysql + ".volume_args[0].mount_path", validate.Invalid},
		{kodo1Stack + ".depends_on[0]", validate.NotFound},
		{kodo2 + ".config_paths[0]", validate.Invalid},
		{kodo2 + ".access_points[0].backend_ports[0]", validate.Invalid},
	})
}

func TestDepsPaths(t *testing.T) {
	deps := seed().StackDeps
	deps[1][1].Services[0].Image.Name = ""
	checkProblems(t, validate.Deps(deps, nil), []problem{{kodo2 + ".image.name", validate.Required}})
	checkProblems(t, validate.Deps(nil, nil), []problem{{"stack_deps", validate.Required}})
}

func TestProductRecord(t *testing.T) {
	p := &product.Product{ID: product.NewProductID(), Name: "kodo", ProviderName: "qiniu", Visibility: product.Public}
	checkProblems(t, validate.Product(p), nil)
	p.ProviderName = ""
	p.Name = repeat("x", 129)
	p.Tags = map[string]string{"k": "v\n"}
	checkProblems(t, validate.Product(p), []problem{
		{"product_name", validate.TooLong}, {"provider_name", validate.Required}, {"tags.k", validate.Invalid},
	})
}

func TestVersionRecord(t *testing.T) {
	v := &product.Version{Name: "v1", Guidance: product.GuidanceLatest, StackDeps: seed().StackDeps}
	checkProblems(t, validate.Version(v, nil), nil)
	// A version taken from a template has no spec of its own yet.
	checkProblems(t, validate.Version(&product.Version{Name: "v2", TemplateURL: "stackwave://templates/tpl-1"}, nil), nil)
	v = &product.Version{Guidance: "Old"}
	checkProblems(t, validate.Version(v, nil), []problem{
		{"version_name", validate.Required}, {"guidance", validate.NotSupported}, {"stack_deps", validate.Required},
	})
}

func TestDNSLabel(t *testing.T) {
	for _, s := range []string{"a", "0", "a-b", "a--b", repeat("a", 63)} {
		if !validate.IsDNSLabel(s) || validate.DNSLabel("f", s) != nil {
			t.Errorf("%q: want a label", s)
		}
	}
	for s, typ := range map[string]validate.ErrorType{
		"": validate.Required, "-": validate.Invalid, "A": validate.Invalid, "a b": validate.Invalid,
		repeat("a", 64): validate.TooLong, "a\n": validate.Invalid,
	} {
		fe := validate.DNSLabel("f", s)
		if validate.IsDNSLabel(s) || fe == nil || fe.Type != typ || fe.Field != "f" {
			t.Errorf("%q: got %v, want %s", s, fe, typ)
		}
	}
}

func TestKey(t *testing.T) {
	for k, want := range map[string]string{
		"team": "tags.team", "a_b-9": "tags.a_b-9", "a.b": `tags["a.b"]`, "": `tags[""]`, "x\ny": `tags["x\ny"]`, "é": `tags["é"]`,
	} {
		if got := validate.Key("tags", k); got != want {
			t.Errorf("Key(%q) = %s, want %s", k, got, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	for _, c := range []struct {
		fe   validate.FieldError
		want string
	}{
		{validate.FieldError{Field: "stack_deps[1][0].services[0].image.tag", Type: validate.Invalid, BadValue: "", Detail: "must not be empty"},
			`stack_deps[1][0].services[0].image.tag: Invalid value: "": must not be empty`},
		{validate.FieldError{Field: "a", Type: validate.Required, Detail: "must not be empty"}, `a: Required value: must not be empty`},
		{validate.FieldError{Field: "a", Type: validate.TooLong, BadValue: "xxx", Detail: "at most 2"}, `a: Too long: at most 2`},
		{validate.FieldError{Field: "p", Type: validate.Duplicate, BadValue: 80}, `p: Duplicate value: 80`},
		{validate.FieldError{Field: "p", Type: validate.NotSupported, BadValue: "x", Detail: "d"}, `p: Unsupported value: "x": d`},
		{validate.FieldError{Field: "p", Type: validate.NotFound, BadValue: nil}, `p: Not found: null`},
		{validate.FieldError{Field: "p", Type: validate.Invalid, BadValue: repeat("é", 50)}, `p: Invalid value: "` + repeat("é", 38) + `..."`},
	} {
		if got := c.fe.Error(); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
	one := &validate.Error{Errors: validate.ErrorList{{Field: "a", Type: validate.Required}}}
	if got, want := one.Error(), "invalid product name or stack deps: a: Required value"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	two := &validate.Error{Errors: validate.ErrorList{{Field: "a", Type: validate.Required}, {Field: "b", Type: validate.Required}}}
	if got, want := two.Error(), "invalid product name or stack deps: 2 problems: a: Required value; b: Required value"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var fe *validate.FieldError
	if !errors.As(error(two), &fe) || fe.Field != "a" {
		t.Errorf("errors.As reaches the first field error, got %v", fe)
	}
	wrapped := fmt.Errorf("create product: %w", two)
	if !errors.Is(wrapped, validate.ErrInvalid) || errors.Is(wrapped, product.ErrInvalidArgs) {
		t.Error("a wrapped rule error must match ErrInvalid only")
	}
}
