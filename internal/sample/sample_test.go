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
