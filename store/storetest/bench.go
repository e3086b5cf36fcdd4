package storetest
import ("testing"; "github.com/stackwave/stackwave/store")
func Bench(b *testing.B, newStore func(b *testing.B) store.Store) {}
