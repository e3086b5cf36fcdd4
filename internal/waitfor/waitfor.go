// Package waitfor waits in tests for a condition that nothing announces:
// a count kept by a server, a lease judged by a database's clock, a
// container's state as the engine reports it. Where a channel, an event
// or a store subscription says the same, tests wait on that instead.
//
// The deadline is a last guard against a hang, never the expected wait:
// on a loaded machine work takes as long as it takes, so deadlines are
// minutes (Generous) and a test fails only when the condition does not
// hold long after it should have.
package waitfor

import "time"

// Generous is the deadline for conditions a loaded machine may take long
// to reach.
const Generous = 3 * time.Minute

// True calls cond at once and then every interval until it returns true
// or timeout has passed, and reports whether it returned true.
func True(timeout, every time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
			if cond() {
				return true
			}
		}
	}
}
