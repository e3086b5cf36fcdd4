package deploy_test

import (
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/sample"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/validate"
)

// BenchmarkPipeline decodes, validates and plans a product of 10,000
// stacks of 10 services: the work a control plane does on every request.
func BenchmarkPipeline(b *testing.B) {
	data := sample.Large()
	b.SetBytes(int64(len(data)))
	sample.PerService(b, sample.LargeStacks*sample.LargeServices, func() {
		doc, err := product.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		if err := validate.Document(doc, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := deploy.NewPlan(doc.StackDeps); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkNewPlan(b *testing.B) {
	doc, err := product.Decode(sample.Large())
	if err != nil {
		b.Fatal(err)
	}
	sample.PerService(b, sample.LargeStacks*sample.LargeServices, func() {
		if _, err := deploy.NewPlan(doc.StackDeps); err != nil {
			b.Fatal(err)
		}
	})
}
