package runtime

import (
	"fmt"
	"math/bits"
	"reflect"
	"strings"
)

// Capabilities is a set of the optional interfaces a Runtime implements
// beside Runtime itself: CapabilitiesOf tells which a value implements,
// and runtimetest fails a runtime whose value differs from the set its
// harness declares, so that a wrapper losing one is caught.
type Capabilities uint32

// The capabilities, one bit per optional interface of this package.
const (
	CapLifecycle Capabilities = 1 << iota
	CapVolumeLister
	CapDeploymentRemover
	CapConcurrencyHinter
	CapAddresser
	CapErrorMapper
	CapTierRelabeler
	CapWatcher
	CapLogReader

	// AllCapabilities holds every capability above.
	AllCapabilities = CapLogReader<<1 - 1
)

// capabilityTypes lists the interface of each capability, bit i at
// index i; Wrap's combination table is generated from the same list.
var capabilityTypes = [...]reflect.Type{
	reflect.TypeFor[Lifecycle](),
	reflect.TypeFor[VolumeLister](),
	reflect.TypeFor[DeploymentRemover](),
	reflect.TypeFor[ConcurrencyHinter](),
	reflect.TypeFor[Addresser](),
	reflect.TypeFor[ErrorMapper](),
	reflect.TypeFor[TierRelabeler](),
	reflect.TypeFor[Watcher](),
	reflect.TypeFor[LogReader](),
}

// CapabilitiesOf returns the optional interfaces rt implements; none for
// a nil rt.
func CapabilitiesOf(rt Runtime) Capabilities {
	if rt == nil {
		return 0
	}
	typ := reflect.TypeOf(rt)
	var c Capabilities
	for i, iface := range capabilityTypes {
		if typ.Implements(iface) {
			c |= 1 << i
		}
	}
	return c
}

// Has reports whether c holds every capability of d.
func (c Capabilities) Has(d Capabilities) bool { return c&d == d }

// String lists the interfaces of c, as "Lifecycle|VolumeLister", or
// "none".
func (c Capabilities) String() string {
	if c == 0 {
		return "none"
	}
	var names []string
	for rest := c; rest != 0; rest &= rest - 1 {
		i := bits.TrailingZeros32(uint32(rest))
		if i < len(capabilityTypes) {
			names = append(names, capabilityTypes[i].Name())
		} else {
			names = append(names, fmt.Sprintf("Capabilities(1<<%d)", i))
		}
	}
	return strings.Join(names, "|")
}
