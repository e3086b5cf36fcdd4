// Package fieldpath writes the field paths of stackwave's errors, in the
// form users read them: stack_deps[1][0].services[0].envs.PASSWORD.
package fieldpath

import "strconv"

// Key returns the path of the member k of the object at path: path.k
// when k is a plain name (letters, digits, '_' and '-'), else
// path["k"] quoted, so that a path never holds a dot, bracket or line
// break that belongs to a name. At the root (path empty) a plain name
// stands alone.
func Key(path, k string) string {
	if !Plain(k) {
		return path + "[" + strconv.Quote(k) + "]"
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// Index returns the path of element i of the array at path.
func Index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// Plain reports whether k is written bare in a path: non-empty letters,
// digits, '_' and '-'.
func Plain(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
