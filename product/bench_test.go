package product_test

import (
	"testing"

	"github.com/stackwave/stackwave/internal/sample"
	"github.com/stackwave/stackwave/product"
)

func BenchmarkDecode(b *testing.B) {
	data := sample.Large()
	b.SetBytes(int64(len(data)))
	sample.PerService(b, sample.LargeStacks*sample.LargeServices, func() {
		if _, err := product.Decode(data); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	doc, err := product.Decode(sample.Large())
	if err != nil {
		b.Fatal(err)
	}
	sample.PerService(b, sample.LargeStacks*sample.LargeServices, func() {
		_ = product.Hash(doc.StackDeps)
	})
}
