package stack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Unit is the compute size of one service instance.
type Unit struct {
	Name        string
	CPU         int   // cores
	MemoryBytes int64 // bytes
}

// MilliCPU returns the CPU in thousandths of a core.
func (u Unit) MilliCPU() int64 { return int64(u.CPU) * 1000 }

// NanoCPUs returns the CPU in billionths of a core, as Docker counts it.
func (u Unit) NanoCPUs() int64 { return int64(u.CPU) * 1e9 }

// Volume is the class and size of one volume.
type Volume struct {
	Name      string // e.g. "SSD1_10G"
	Class     string // e.g. "SSD1"
	SizeBytes int64
}

// SizeGiB returns the size in GiB.
func (v Volume) SizeGiB() int64 { return v.SizeBytes >> 30 }

// VolumeClass describes the sizes a volume class offers: positive multiples
// of StepGiB up to MaxGiB (0: no limit).
type VolumeClass struct {
	StepGiB int64
	MaxGiB  int64
}

// Catalog lists the unit types and volume classes services may use. The
// zero Catalog allows nothing; DefaultCatalog returns the sizes control
// planes commonly offer. Embedders replace either list. A Catalog is safe
// for concurrent reads; do not change it while it is in use.
type Catalog struct {
	Units         map[string]Unit
	VolumeClasses map[string]VolumeClass
}

// defaultUnitTypes are the unit types of DefaultCatalog.
var defaultUnitTypes = []string{
	"1U1G", "1U2G", "1U4G", "1U8G",
	"2U4G", "2U8G", "2U16G",
	"4U8G", "4U16G", "4U32G",
	"8U16G", "8U32G",
}

// DefaultCatalog returns a new catalog with the unit types 1U1G, 1U2G,
// 1U4G, 1U8G, 2U4G, 2U8G, 2U16G, 4U8G, 4U16G, 4U32G, 8U16G and 8U32G and
// the volume class SSD1 in steps of 10 GiB.
func DefaultCatalog() *Catalog {
	c := &Catalog{
		Units:         make(map[string]Unit, len(defaultUnitTypes)),
		VolumeClasses: map[string]VolumeClass{"SSD1": {StepGiB: 10}},
	}
	for _, name := range defaultUnitTypes {
		u, err := ParseUnit(name)
		if err != nil {
			panic(err) // the list above is constant
		}
		c.Units[name] = u
	}
	return c
}

// defaultCatalog is what a nil *Catalog means.
var defaultCatalog = sync.OnceValue(DefaultCatalog)

// orDefault returns c, or the default catalog when c is nil: a nil
// *Catalog means DefaultCatalog, as in the options that take one.
func (c *Catalog) orDefault() *Catalog {
	if c == nil {
		return defaultCatalog()
	}
	return c
}

// UnitNames returns the catalog's unit type names, sorted by size.
func (c *Catalog) UnitNames() []string {
	c = c.orDefault()
	names := make([]string, 0, len(c.Units))
	for n := range c.Units {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := c.Units[names[i]], c.Units[names[j]]
		if a.CPU != b.CPU {
			return a.CPU < b.CPU
		}
		if a.MemoryBytes != b.MemoryBytes {
			return a.MemoryBytes < b.MemoryBytes
		}
		return names[i] < names[j]
	})
	return names
}

// Unit returns the unit type called name.
func (c *Catalog) Unit(name string) (Unit, error) {
	c = c.orDefault()
	if u, ok := c.Units[name]; ok {
		return u, nil
	}
	if _, err := ParseUnit(name); err != nil {
		return Unit{}, err
	}
	return Unit{}, fmt.Errorf("unit type %q is not in the catalog", name)
}

// Volume returns the volume unit type called name.
func (c *Catalog) Volume(name string) (Volume, error) {
	c = c.orDefault()
	v, err := ParseVolume(name)
	if err != nil {
		return Volume{}, err
	}
	vc, ok := c.VolumeClasses[v.Class]
	if !ok {
		return Volume{}, fmt.Errorf("volume class %q is not in the catalog", v.Class)
	}
	gib := v.SizeGiB()
	if vc.StepGiB > 0 && gib%vc.StepGiB != 0 {
		return Volume{}, fmt.Errorf("volume size %dG is not a multiple of %dG", gib, vc.StepGiB)
	}
	if vc.MaxGiB > 0 && gib > vc.MaxGiB {
		return Volume{}, fmt.Errorf("volume size %dG exceeds the maximum of %dG", gib, vc.MaxGiB)
	}
	return v, nil
}

// ParseUnit parses a unit type of the grammar <cpu>U<mem>G, such as
// "2U8G": 2 cores and 8 GiB.
func ParseUnit(name string) (Unit, error) {
	cpuS, rest, ok := strings.Cut(name, "U")
	memS, ok2 := strings.CutSuffix(rest, "G")
	if !ok || !ok2 {
		return Unit{}, fmt.Errorf("unit type %q does not match <cpu>U<mem>G", name)
	}
	cpu, err1 := parsePositive(cpuS)
	mem, err2 := parsePositive(memS)
	if err1 != nil || err2 != nil || cpu > 1024 || mem > 1<<20 {
		return Unit{}, fmt.Errorf("unit type %q does not match <cpu>U<mem>G", name)
	}
	return Unit{Name: name, CPU: int(cpu), MemoryBytes: mem << 30}, nil
}

// ParseVolume parses a volume unit type of the grammar <class>_<n>G, such
// as "SSD1_10G".
func ParseVolume(name string) (Volume, error) {
	i := strings.LastIndexByte(name, '_')
	if i <= 0 {
		return Volume{}, fmt.Errorf("volume type %q does not match <class>_<size>G", name)
	}
	class, sizeS := name[:i], name[i+1:]
	sizeS, ok := strings.CutSuffix(sizeS, "G")
	n, err := parsePositive(sizeS)
	if !ok || err != nil || n > 1<<24 {
		return Volume{}, fmt.Errorf("volume type %q does not match <class>_<size>G", name)
	}
	for _, r := range class {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return Volume{}, fmt.Errorf("volume type %q: class must be upper-case letters and digits", name)
		}
	}
	return Volume{Name: name, Class: class, SizeBytes: n << 30}, nil
}

func parsePositive(s string) (int64, error) {
	if s == "" || s[0] == '0' || s[0] == '+' || s[0] == '-' {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(s, 10, 64)
}
