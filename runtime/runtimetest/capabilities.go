package runtimetest

import (
	"errors"
	"regexp"

	"github.com/stackwave/stackwave/runtime"
)

// dnsName matches a host name of lower-case DNS labels.
var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// testCapabilities checks, beside the set newEnv compared with the
// declaration, what the capabilities that need no engine work promise:
// the host names of runtime.Addresser (or the default form without it)
// and the pass-through of unknown errors by runtime.ErrorMapper.
func testCapabilities(e *env) {
	t := e.t
	if !e.h.Capabilities.Has(runtime.CapAddresser) {
		if h := runtime.ServiceHost(e.rt, e.dep, "app", "web"); h != "web.app" {
			t.Errorf("runtime.ServiceHost of a runtime without Addresser: %q, want \"web.app\" (<service>.<stack>)", h)
		}
	} else {
		a := capability[runtime.Addresser](e, runtime.CapAddresser)
		seen := map[string]string{}
		for _, r := range [][2]string{{"app", "web"}, {"app", "db"}, {"other", "web"}} {
			h := a.ServiceHost(e.dep, r[0], r[1])
			what := r[1] + " of stack " + r[0]
			if !dnsName.MatchString(h) || len(h) > 253 {
				t.Errorf("ServiceHost of %s is %q, want a DNS name (lower-case labels of letters, digits and '-', joined by dots)", what, h)
			}
			if other, dup := seen[h]; dup {
				t.Errorf("ServiceHost gives %s and %s the same host %q", other, what, h)
			}
			seen[h] = what
			if again := a.ServiceHost(e.dep, r[0], r[1]); again != h {
				t.Errorf("ServiceHost of %s changed from %q to %q", what, h, again)
			}
		}
	}
	if e.h.Capabilities.Has(runtime.CapErrorMapper) {
		m := capability[runtime.ErrorMapper](e, runtime.CapErrorMapper)
		unknown := errors.New("runtimetest: an error no runtime knows")
		if got := m.MapError(unknown); got != unknown {
			t.Errorf("MapError of an error it does not know returned %v, want it unchanged", got)
		}
		if got := m.MapError(nil); got != nil {
			t.Errorf("MapError(nil) = %v, want nil", got)
		}
	}
}
