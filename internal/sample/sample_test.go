package sample_test

import (
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/sample"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/validate"
)

func TestDocumentIsValid(t *testing.T) {
	for _, c := range []struct{ stacks, services, width int }{{1, 1, 1}, {30, 10, 7}, {200, 3, 50}} {
		data := sample.Document(c.stacks, c.services, c.width)
		doc, err := product.Decode(data)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if err := validate.Document(doc, nil); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		_, stacks, services := doc.StackDeps.Counts()
		if stacks != c.stacks || services != c.stacks*c.services {
			t.Fatalf("%+v: got %d stacks, %d services", c, stacks, services)
		}
		if _, err := deploy.NewPlan(doc.StackDeps); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWideTierIsValid(t *testing.T) {
	for _, n := range []int{1, 100} {
		doc, err := product.Decode(sample.WideTier("wide", n))
		if err != nil {
			t.Fatalf("%d stacks: %v", n, err)
		}
		if err := validate.Document(doc, nil); err != nil {
			t.Fatalf("%d stacks: %v", n, err)
		}
		tiers, stacks, services := doc.StackDeps.Counts()
		if doc.Name != "wide" || tiers != 1 || stacks != n || services != n {
			t.Fatalf("%d stacks: got %q, %d tiers, %d stacks, %d services", n, doc.Name, tiers, stacks, services)
		}
	}
}
