package validate_test

import (
	"testing"

	"github.com/stackwave/stackwave/internal/sample"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/validate"
)

func BenchmarkDocument(b *testing.B) {
	doc, err := product.Decode(sample.Large())
	if err != nil {
		b.Fatal(err)
	}
	sample.PerService(b, sample.LargeStacks*sample.LargeServices, func() {
		if err := validate.Document(doc, nil); err != nil {
			b.Fatal(err)
		}
	})
}
