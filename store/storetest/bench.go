package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// ListCatalogSize is how many products the ListProducts benchmark lists
// pages of.
const ListCatalogSize = 100_000

// Bench runs the benchmarks every driver reports: CreateProduct,
// GetProduct (alone and from GOMAXPROCS goroutines), ListProducts (a page
// of 100 out of ListCatalogSize products), UpdateProduct with its
// revision, and RenewLease. newStore must return a new, empty store and
// close it in b.Cleanup. Each benchmark also reports ops/s.
func Bench(b *testing.B, newStore func(b *testing.B) *store.Store) {
	b.Run("CreateProduct", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.CreateProduct(ctx, newProduct(fmt.Sprintf("bench-%d", i))); err != nil {
				b.Fatal(err)
			}
		}
		opsPerSecond(b)
	})
	b.Run("GetProduct", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		ids := populate(b, s, 1000)
		i := 0
		for b.Loop() {
			i++
			if _, err := s.GetProduct(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
		}
		opsPerSecond(b)
	})
	b.Run("GetProductParallel", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		ids := populate(b, s, 1000)
		var next atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1000))
			for pb.Next() {
				i++
				if _, err := s.GetProduct(ctx, ids[i%len(ids)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		opsPerSecond(b)
	})
	b.Run("ListProducts", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		populate(b, s, ListCatalogSize)
		pages := ListCatalogSize / store.MaxPageSize
		i := 0
		for b.Loop() {
			i++
			// Walk the pages so the offsets average half the catalog.
			res, err := s.ListProducts(ctx, store.ProductQuery{Page: i%pages + 1, PageSize: store.MaxPageSize})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Items) != store.MaxPageSize || res.Total != ListCatalogSize {
				b.Fatalf("page of %d out of %d, want %d out of %d", len(res.Items), res.Total, store.MaxPageSize, ListCatalogSize)
			}
		}
		opsPerSecond(b)
	})
	b.Run("UpdateProduct", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		p, err := s.CreateProduct(ctx, newProduct("updated"))
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			p.Description = fmt.Sprintf("update %d", i)
			if p, err = s.UpdateProduct(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		opsPerSecond(b)
	})
	b.Run("RenewLease", func(b *testing.B) {
		s := newStore(b)
		ctx := b.Context()
		for b.Loop() {
			if _, err := s.AcquireLease(ctx, "leased", "replica-a", time.Minute); err != nil {
				b.Fatal(err)
			}
		}
		opsPerSecond(b)
	})
}

func opsPerSecond(b *testing.B) {
	if d := b.Elapsed(); d > 0 {
		b.ReportMetric(float64(b.N)/d.Seconds(), "ops/s")
	}
}

// populate creates n products, a few at a time, and returns their IDs.
func populate(b *testing.B, s *store.Store, n int) []string {
	b.Helper()
	ids := make([]string, n)
	g, ctx := errgroup.WithContext(context.WithoutCancel(b.Context()))
	g.SetLimit(4)
	for i := range ids {
		g.Go(func() error {
			p, err := s.CreateProduct(ctx, &product.Product{
				Name:         fmt.Sprintf("catalog-%06d", i),
				ProviderName: "Acme",
				Description:  "one of many",
			})
			if err != nil {
				return err
			}
			ids[i] = p.ID
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return ids
}
