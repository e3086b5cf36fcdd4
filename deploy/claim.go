package deploy

import (
	"context"
	"sync"
)

// A claim marks a deployment as having an operation of this executor in
// progress. The lease in the store keeps other executors off the
// deployment; an executor renews its own lease at will, so it keeps
// itself off by claiming.
//
// An operation's end becomes observable (its record final, its lease
// released, its last event delivered) while the operation is still
// finishing. Once it has begun to finish, the next claim on the
// deployment waits until it lets go instead of being refused: the
// finishing operation lets go only after it released the lease, so two
// operations of this executor never both believe they hold it, and the
// finishing one never releases the lease of the next.
type claim struct {
	name      string
	finishing bool          // guarded by Executor.mu
	released  chan struct{} // closed by unclaim
	once      sync.Once
}

// claim takes a deployment for an operation of this executor. It reports
// false when an operation already holds it and is not finishing; it
// waits for one that is, until ctx is done (then it returns ctx's cause).
func (e *Executor) claim(ctx context.Context, name string) (*claim, bool, error) {
	for {
		e.mu.Lock()
		c := e.running[name]
		if c == nil {
			c = &claim{name: name, released: make(chan struct{})}
			e.running[name] = c
			e.mu.Unlock()
			return c, true, nil
		}
		finishing := c.finishing
		e.mu.Unlock()
		if !finishing {
			return nil, false, nil
		}
		select {
		case <-c.released:
		case <-ctx.Done():
			return nil, false, context.Cause(ctx)
		}
	}
}

// finishing marks a claim's operation as finishing: from now on its end
// may be observed, and the next claim waits for it rather than fail.
func (e *Executor) finishing(c *claim) {
	e.mu.Lock()
	c.finishing = true
	e.mu.Unlock()
}

// isClaimed reports whether this executor runs an operation on a
// deployment.
func (e *Executor) isClaimed(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running[name] != nil
}

// unclaim lets a deployment go. It may be called more than once; it
// never lets go of a later claim on the same deployment.
func (e *Executor) unclaim(c *claim) {
	e.mu.Lock()
	if e.running[c.name] == c {
		delete(e.running, c.name)
	}
	e.mu.Unlock()
	c.once.Do(func() { close(c.released) })
}
