package stack_test

import (
	"slices"
	"testing"

	"github.com/stackwave/stackwave/stack"
)

// TestNilReceivers: the methods on pointers answer for nil, never panic.
func TestNilReceivers(t *testing.T) {
	var c *stack.Catalog
	if !slices.Equal(c.UnitNames(), stack.DefaultCatalog().UnitNames()) {
		t.Error("a nil catalog is not the default one")
	}
	if _, err := c.Unit("1U1G"); err != nil {
		t.Errorf("nil catalog Unit: %v", err)
	}
	if _, err := c.Volume("SSD1_10G"); err != nil {
		t.Errorf("nil catalog Volume: %v", err)
	}
	var svc *stack.Service
	if svc.Replicas() != 1 {
		t.Error("nil service replicas")
	}
	if _, ok := svc.Env("A"); ok {
		t.Error("nil service has an env")
	}
	var ap *stack.AccessPoint
	if ap.Protocol() != "" || ap.FrontPort() != 0 {
		t.Error("nil access point has a protocol or port")
	}
	var s *stack.Stack
	if s.Service("x") != nil {
		t.Error("nil stack has a service")
	}
	var d *stack.Duration
	if err := d.UnmarshalJSON([]byte(`"1s"`)); err == nil {
		t.Error("UnmarshalJSON into a nil *Duration succeeded")
	}
	var zero stack.Catalog
	if len(zero.UnitNames()) != 0 {
		t.Error("an empty catalog has units")
	}
}
