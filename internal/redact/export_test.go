package redact

// Runs returns the runs of s that r shows as Marker, as [start, end)
// byte offsets, in order.
func Runs(r *Redactor, s string) [][2]int {
	if r == nil {
		return nil
	}
	var out [][2]int
	for _, sp := range r.m.runs(s) {
		out = append(out, [2]int{sp.start, sp.end})
	}
	return out
}
