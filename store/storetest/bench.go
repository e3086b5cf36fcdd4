package storetest

import (
	"github.com/stackwave/stackwave/store"
	"testing"
)

func Bench(b *testing.B, newStore func(b *testing.B) store.Store) {}
