package stack_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/stack"
)

func TestParseUnit(t *testing.T) {
	for name, want := range map[string]stack.Unit{
		"1U1G":    {Name: "1U1G", CPU: 1, MemoryBytes: 1 << 30},
		"2U8G":    {Name: "2U8G", CPU: 2, MemoryBytes: 8 << 30},
		"8U32G":   {Name: "8U32G", CPU: 8, MemoryBytes: 32 << 30},
		"64U512G": {Name: "64U512G", CPU: 64, MemoryBytes: 512 << 30},
	} {
		got, err := stack.ParseUnit(name)
		if err != nil || got != want {
			t.Errorf("ParseUnit(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	for _, name := range []string{"", "U1G", "1UG", "1U1", "1u1g", "0U1G", "1U0G", "01U1G", "-1U1G", "+1U1G", "1.5U2G", "1U1G1G", "2000U1G", "1U2000000G", "1U1GB"} {
		if u, err := stack.ParseUnit(name); err == nil {
			t.Errorf("ParseUnit(%q) = %+v, want an error", name, u)
		}
	}
	u, _ := stack.ParseUnit("2U4G")
	if u.MilliCPU() != 2000 || u.NanoCPUs() != 2e9 {
		t.Errorf("MilliCPU %d NanoCPUs %d", u.MilliCPU(), u.NanoCPUs())
	}
}

func TestParseVolume(t *testing.T) {
	for name, want := range map[string]stack.Volume{
		"SSD1_10G":   {Name: "SSD1_10G", Class: "SSD1", SizeBytes: 10 << 30},
		"SSD1_1000G": {Name: "SSD1_1000G", Class: "SSD1", SizeBytes: 1000 << 30},
		"HDD_15G":    {Name: "HDD_15G", Class: "HDD", SizeBytes: 15 << 30},
		"A_B_20G":    {}, // the class may not hold '_'
	} {
		got, err := stack.ParseVolume(name)
		if want.Name == "" {
			if err == nil {
				t.Errorf("ParseVolume(%q) = %+v, want an error", name, got)
			}
			continue
		}
		if err != nil || got != want || got.SizeGiB() != want.SizeBytes>>30 {
			t.Errorf("ParseVolume(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	for _, name := range []string{"", "_10G", "SSD1", "SSD1_", "SSD1_G", "SSD1_10", "SSD1_0G", "SSD1_010G", "SSD1_-10G", "ssd1_10G", "SSD1_10T", "SSD1_99999999999G"} {
		if v, err := stack.ParseVolume(name); err == nil {
			t.Errorf("ParseVolume(%q) = %+v, want an error", name, v)
		}
	}
}

func TestDefaultCatalog(t *testing.T) {
	c := stack.DefaultCatalog()
	want := "1U1G 1U2G 1U4G 1U8G 2U4G 2U8G 2U16G 4U8G 4U16G 4U32G 8U16G 8U32G"
	if got := strings.Join(c.UnitNames(), " "); got != want {
		t.Errorf("UnitNames = %s, want %s", got, want)
	}
	if u, err := c.Unit("4U16G"); err != nil || u.CPU != 4 || u.MemoryBytes != 16<<30 {
		t.Errorf("Unit(4U16G) = %+v, %v", u, err)
	}
	if _, err := c.Unit("3U3G"); err == nil || !strings.Contains(err.Error(), "not in the catalog") {
		t.Errorf("Unit(3U3G): %v", err)
	}
	if _, err := c.Unit("big"); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Unit(big): %v", err)
	}
	for name, ok := range map[string]bool{"SSD1_10G": true, "SSD1_20G": true, "SSD1_15G": false, "HDD_10G": false} {
		if _, err := c.Volume(name); (err == nil) != ok {
			t.Errorf("Volume(%q): %v", name, err)
		}
	}
	// Catalogs are independent values.
	delete(c.Units, "1U1G")
	if _, err := stack.DefaultCatalog().Unit("1U1G"); err != nil {
		t.Error("changing one catalog changed the default")
	}
	// The zero catalog allows nothing.
	var zero stack.Catalog
	if _, err := zero.Unit("1U1G"); err == nil {
		t.Error("zero catalog allows 1U1G")
	}
	if _, err := zero.Volume("SSD1_10G"); err == nil {
		t.Error("zero catalog allows SSD1_10G")
	}
	max := stack.Catalog{VolumeClasses: map[string]stack.VolumeClass{"HDD": {StepGiB: 0, MaxGiB: 100}}}
	if _, err := max.Volume("HDD_7G"); err != nil {
		t.Errorf("no step: %v", err)
	}
	if _, err := max.Volume("HDD_101G"); err == nil {
		t.Error("over the maximum")
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`"1.5s"`: 1500 * time.Millisecond, `"2m"`: 2 * time.Minute, `30`: 30 * time.Second,
		`0.25`: 250 * time.Millisecond, `-1`: -time.Second, `null`: 0,
	} {
		var d stack.Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.Std() != want {
			t.Errorf("%s: got %v, %v; want %v", in, d.Std(), err, want)
		}
	}
	for _, in := range []string{`"soon"`, `"1"`, `true`, `{}`, `1e300`, `-1e300`} {
		var d stack.Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s: got %v, want an error", in, d.Std())
		}
	}
	b, err := json.Marshal(stack.Duration(90 * time.Second))
	if err != nil || string(b) != `"1m30s"` {
		t.Errorf("marshal: %s %v", b, err)
	}
}

func TestImageRef(t *testing.T) {
	const d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for img, want := range map[stack.Image]string{
		{Name: "mysql", Tag: "8.0"}:            "mysql:8.0",
		{Name: "mysql", Digest: d}:             "mysql@" + d,
		{Name: "mysql", Tag: "8.0", Digest: d}: "mysql:8.0@" + d,
		{Name: "mysql"}:                        "mysql",
	} {
		if img.Ref() != want || img.String() != want {
			t.Errorf("%+v: %s, want %s", img, img.Ref(), want)
		}
	}
}

func TestServiceHelpers(t *testing.T) {
	s := stack.Service{Envs: []string{"A=1", "B=x=y", "C=", "D"}}
	for key, want := range map[string]string{"A": "1", "B": "x=y", "C": ""} {
		if v, ok := s.Env(key); !ok || v != want {
			t.Errorf("Env(%s) = %q, %v", key, v, ok)
		}
	}
	if _, ok := s.Env("D"); ok {
		t.Error("an entry without '=' has no value")
	}
	if s.Replicas() != 1 || (&stack.Service{Instances: 3}).Replicas() != 3 || (&stack.Service{Instances: -2}).Replicas() != 1 {
		t.Error("Replicas")
	}
	for _, c := range []struct {
		ap    stack.AccessPoint
		proto string
		front int
	}{
		{stack.AccessPoint{Type: "domain"}, "http", 80},
		{stack.AccessPoint{Type: "public_ip"}, "tcp", 0},
		{stack.AccessPoint{Type: "internal_ip", Proto: "udp"}, "udp", 0},
	} {
		if c.ap.Protocol() != c.proto || c.ap.FrontPort() != c.front {
			t.Errorf("%+v: %s %d", c.ap, c.ap.Protocol(), c.ap.FrontPort())
		}
	}
}

func TestDepsLookups(t *testing.T) {
	deps := stack.Deps{
		{{Name: "a", Services: []stack.Service{{Name: "s1"}, {Name: "s2"}}}},
		{{Name: "b", Services: []stack.Service{{Name: "s1"}}}, {Name: "c"}},
	}
	if tiers, stacks, services := deps.Counts(); tiers != 2 || stacks != 3 || services != 3 {
		t.Errorf("Counts = %d %d %d", tiers, stacks, services)
	}
	if s, tier := deps.Stack("c"); s == nil || tier != 1 || s.Name != "c" {
		t.Errorf("Stack(c) = %v %d", s, tier)
	}
	if s, tier := deps.Stack("x"); s != nil || tier != -1 {
		t.Errorf("Stack(x) = %v %d", s, tier)
	}
	a, _ := deps.Stack("a")
	if a.Service("s2") != &a.Services[1] || a.Service("s3") != nil {
		t.Error("Service")
	}
}

// The canonical JSON form: envs as strings, access points as a list,
// empty optional fields left out.
func TestCanonicalJSON(t *testing.T) {
	deps := stack.Deps{{{Name: "a", Services: []stack.Service{{
		Name: "s", UnitType: "1U1G", Image: stack.Image{Name: "x", Tag: "1"},
		AccessPoints: []stack.AccessPoint{{Type: "domain", BackendPorts: []int{80}}},
	}}}}}
	b, err := json.Marshal(deps)
	if err != nil {
		t.Fatal(err)
	}
	want := `[[{"stack_name":"a","services":[{"service_name":"s","unit_type":"1U1G","image":{"name":"x","tag":"1"},"access_points":[{"type":"domain","backend_ports":[80]}]}]}]]`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back stack.Deps
	if err := json.Unmarshal(b, &back); err != nil || back[0][0].Services[0].AccessPoints[0].BackendPorts[0] != 80 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}
