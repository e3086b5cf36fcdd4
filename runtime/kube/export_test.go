package kube

// CachedObserves returns how many Observe calls of r were answered from
// its watches' caches.
func CachedObserves(r *Runtime) int64 { return r.cachedObserves.Load() }
