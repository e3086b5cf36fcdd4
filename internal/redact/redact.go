// Package redact hides secret values in text that leaves stackwave: the
// messages of operations, events and stack states, the errors of
// runtimes and the answers of the API.
//
// A Redactor knows the secret values of one deployment (env values,
// launch variables, rendered config files) and replaces each of them with
// Marker in every form a back-end may print it:
//
//   - raw;
//   - Go-quoted (strconv.Quote, QuoteToASCII, QuoteToGraphic, as %q
//     prints), without the quotes;
//   - JSON-escaped, with and without HTML escaping;
//   - shell-quoted (inside single quotes, and inside double quotes);
//   - URL-encoded, as a query value and as a path segment;
//   - base64 (standard and URL alphabets, padded and raw), at each of the
//     three alignments the value may have in a longer encoded text;
//   - each line of a multi-line value, in the forms above.
//
// # Which values are hidden
//
// A value whose key looks secret (see LooksSecret: PASSWORD, SECRET,
// TOKEN, KEY, PIN, PASS, CREDENTIAL, ...) is hidden whatever its length,
// even a single character, which is then blanked out wherever it occurs,
// unless it is a switch (0, 1, true, false, yes, no, on, off, y, n,
// enabled, disabled: MYSQL_ALLOW_EMPTY_PASSWORD=1 says how a secret is
// handled, not what it is), which is treated like a short ordinary value.
// Any other value is hidden wherever it occurs once it is at least
// MinLength bytes long; a shorter one (a port, a log level, "true") is
// hidden where it is printed as an assignment, KEY=value, which is how a
// container printing its environment shows it, and left alone elsewhere,
// so that ordinary words and numbers in messages survive. Lines of a
// multi-line value are hidden on their own from MinLength bytes (shorter
// lines, such as "}" of a JSON document, only as part of the whole).
// Base64 forms are hidden when the value holds at least three bytes at
// the alignment considered.
//
// # Overlapping values
//
// Hidden values may overlap in a text: an ordinary value's end may start
// a secret ("cluster-eu" and "eu-s3cret" in "cluster-eu-s3cret"), and so
// may their encoded forms. Every byte of every occurrence of every
// hidden form is hidden, overlapping occurrences included (of KEY=value,
// the value's part), and each run of hidden bytes becomes one Marker:
// values that overlap or touch show as a single Marker, never as a
// marker followed by the rest of a secret. A Marker already in the text
// is such a run too, so redacting twice changes nothing.
//
// # Names the product publishes
//
// A deployment's stack, service and host names, its own name, the
// product's and the version's names, images and the like are printed in
// every event and error, and env values often repeat them
// (DB_HOST=mysql-cluster). NewKeeping takes these names: a value of a key
// that does not look secret and that equals one of them is hidden only
// where it is printed as KEY=value, and a name that holds such a value
// (the stack "mysql-cluster-eu" and the value "mysql-cluster") is kept
// whole, so that messages keep naming what they are about. Values of keys
// that look secret are hidden always: a secret equal to a name, or held
// in a name, hides that name too wherever it occurs. A name is kept only
// whole: in a text where a hidden value that is not inside the name
// starts or ends inside it ("mysql-cluster-eu-s3cret", the secret
// "eu-s3cret"), the text is redacted as if no name were kept.
//
// # Text that cannot be proven clean
//
// After the replacement, a text that holds escapes (backslash escapes or
// %XX) is decoded once more; if a hidden value then shows, the back-end
// escaped it in a way not listed above, and the whole text is replaced
// with Withheld rather than echoed.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Marker replaces a hidden value.
const Marker = "<redacted>"

// Withheld replaces a text that cannot be proven free of secret values.
const Withheld = "<message withheld: it may hold a secret value>"

// MinLength is the length from which values of keys that do not look
// secret are hidden wherever they occur.
const MinLength = 6

// Secret is a value to hide and the key that names it (an env name, a
// launch variable, a config file path).
type Secret struct {
	Key, Value string
}

// secretWords are the parts of key names that mark their values secret.
var secretWords = []string{
	"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "TOKEN", "KEY", "PIN",
	"CREDENTIAL", "CRED", "AUTH", "PRIVATE", "CERT", "SALT", "SIGNATURE",
	"DSN", "CONNECTION", "SESSION", "COOKIE", "OTP",
}

// LooksSecret reports whether a key names a secret value: whether, in
// upper case, it contains one of PASSWORD, PASSWD, PASS, PWD, SECRET,
// TOKEN, KEY, PIN, CREDENTIAL, CRED, AUTH, PRIVATE, CERT, SALT,
// SIGNATURE, DSN, CONNECTION, SESSION, COOKIE or OTP.
func LooksSecret(key string) bool {
	k := strings.ToUpper(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// switches are values that only turn a setting on or off. Under a key
// that looks secret (MYSQL_ALLOW_EMPTY_PASSWORD=1) they say how a secret
// is handled, not what it is, and hiding them everywhere would blank out
// every "1" or "no" of every message; they are hidden as KEY=value only.
var switches = []string{"0", "1", "true", "false", "yes", "no", "on", "off", "y", "n", "enabled", "disabled"}

// IsSwitch reports whether v is one of the switch values (0, 1, true,
// false, yes, no, on, off, y, n, enabled, disabled, in any case), which
// are hidden as KEY=value only, even under a key that looks secret.
func IsSwitch(v string) bool {
	for _, w := range switches {
		if strings.EqualFold(v, w) {
			return true
		}
	}
	return false
}

// Redactor hides a set of secret values. The nil *Redactor hides
// nothing. It is safe for concurrent use.
type Redactor struct {
	m *matcher
	// check are the raw values looked for in a decoded text.
	check []string
	// keep are the names kept whole although they hold a hidden value.
	keep []string
}

// New returns a Redactor of the secrets, or nil when there is nothing
// to hide.
func New(secrets ...Secret) *Redactor { return NewKeeping(nil, secrets...) }

// form is how a hidden form is hidden.
type form struct {
	// keep is how many bytes of it stay: those of KEY= in KEY=value.
	keep int
	// secret is set for the forms of values whose keys look secret.
	secret bool
}

// NewKeeping returns a Redactor of the secrets that leaves alone the
// names a product publishes (see the package documentation), or nil when
// there is nothing to hide. A secret-looking value equal to a name, or
// held in one, is hidden all the same.
func NewKeeping(names []string, secrets ...Secret) *Redactor {
	public := map[string]bool{}
	for _, n := range names {
		if n != "" {
			public[n] = true
		}
	}
	forms := map[string]form{}
	add := func(f string, keep int, secret bool) {
		if f == "" {
			return
		}
		h, ok := forms[f]
		if !ok || keep < h.keep {
			h.keep = keep
		}
		h.secret = h.secret || secret
		forms[f] = h
	}
	check := map[string]bool{}
	for _, s := range secrets {
		v := s.Value
		if v == "" {
			continue
		}
		secret := LooksSecret(s.Key) && !IsSwitch(v)
		if secret || len(v) >= MinLength && !public[v] {
			check[v] = true
			for _, f := range Forms(v) {
				add(f, 0, secret)
			}
		} else if s.Key != "" {
			// KEY=value, also quoted as a whole; KEY= stays.
			kv := s.Key + "=" + v
			check[kv] = true
			keys := quotedForms(s.Key + "=")
			for i, f := range quotedForms(kv) {
				keep := 0
				if i < len(keys) && strings.HasPrefix(f, keys[i]) {
					keep = len(keys[i])
				}
				add(f, keep, false)
			}
		}
		if strings.ContainsAny(v, "\r\n") {
			for line := range strings.Lines(v) {
				line = strings.TrimRight(line, "\r\n")
				if len(line) < MinLength || public[line] && !LooksSecret(s.Key) {
					continue
				}
				check[line] = true
				for _, f := range Forms(line) {
					add(f, 0, LooksSecret(s.Key))
				}
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	r := &Redactor{}
	for v := range check {
		r.check = append(r.check, v)
	}
	slices.Sort(r.check)

	ps := make([]pattern, 0, len(forms)+len(public)+2)
	for f, h := range forms {
		e := ends{hidden: int32(len(f)), cover: int32(len(f) - h.keep)}
		if h.secret {
			e.secret = e.hidden
		}
		ps = append(ps, pattern{f, e})
	}
	// The marker is hidden as it is, so that redacting twice changes
	// nothing ("e" of "<redacted>"), and the summary is left whole.
	ps = append(ps,
		pattern{Marker, ends{hidden: int32(len(Marker)), cover: int32(len(Marker))}},
		pattern{Withheld, ends{shelter: int32(len(Withheld))}})
	firstName := len(ps)
	for n := range public {
		if _, ok := forms[n]; !ok {
			ps = append(ps, pattern{s: n})
		}
	}
	m, at := newMatcher(ps)
	m.propagate()
	// A name is kept whole when it holds a hidden form, but no secret
	// one, and is none itself.
	kept := false
	for i, p := range ps[firstName:] {
		var holds, secret bool
		var st int32
		for j := 0; j < len(p.s); j++ {
			st = m.step(st, p.s[j])
			e := m.ends[m.out[st]]
			holds = holds || e.hidden > 0
			secret = secret || e.secret > 0
		}
		if holds && !secret {
			r.keep = append(r.keep, p.s)
			m.own[at[firstName+i]].e.name = int32(len(p.s))
			kept = true
		}
	}
	if kept {
		slices.Sort(r.keep)
		m.propagate()
	}
	r.m = m
	return r
}

// exposed reports whether one of vals occurs in s other than inside an
// occurrence of one of keep.
func exposed(s string, vals, keep []string) bool {
	var spans [][2]int
	spansDone := false
	for _, v := range vals {
		for from := 0; ; {
			i := strings.Index(s[from:], v)
			if i < 0 {
				break
			}
			i += from
			if !spansDone {
				spans, spansDone = occurrences(s, keep), true
			}
			if !covered(spans, i, i+len(v)) {
				return true
			}
			from = i + 1
		}
	}
	return false
}

// occurrences returns where each of keep occurs in s, overlaps included.
func occurrences(s string, keep []string) [][2]int {
	var out [][2]int
	for _, k := range keep {
		for from := 0; ; {
			i := strings.Index(s[from:], k)
			if i < 0 {
				break
			}
			out = append(out, [2]int{from + i, from + i + len(k)})
			from += i + 1
		}
	}
	return out
}

func covered(spans [][2]int, start, end int) bool {
	for _, sp := range spans {
		if sp[0] <= start && end <= sp[1] {
			return true
		}
	}
	return false
}

// Forms returns the forms of v that New hides: raw, quoted, escaped,
// encoded; see the package documentation.
func Forms(v string) []string {
	out := quotedForms(v)
	out = append(out, url.QueryEscape(v), url.PathEscape(v))
	// Shell: inside single quotes, ' is written '\'' or '"'"'; inside
	// double quotes, \ " $ and ` take a backslash.
	out = append(out,
		strings.ReplaceAll(v, "'", `'\''`),
		strings.ReplaceAll(v, "'", `'"'"'`),
		doubleQuoted.Replace(v))
	out = append(out, base64Forms(v)...)
	slices.Sort(out)
	return slices.Compact(slices.DeleteFunc(out, func(s string) bool { return s == "" }))
}

// doubleQuoted escapes what takes a backslash inside double quotes in a
// shell. One for all: a Replacer builds its table on first use.
var doubleQuoted = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`")

// quotedForms returns v raw, Go-quoted and JSON-escaped, without quotes.
func quotedForms(v string) []string {
	out := []string{v, unquote(strconv.Quote(v)), unquote(strconv.QuoteToASCII(v)), unquote(strconv.QuoteToGraphic(v))}
	if b, err := json.Marshal(v); err == nil {
		out = append(out, unquote(string(b)))
	}
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		out = append(out, unquote(strings.TrimSuffix(sb.String(), "\n")))
	}
	return out
}

func unquote(q string) string { return q[1 : len(q)-1] }

var encodings = []*base64.Encoding{base64.StdEncoding, base64.URLEncoding}

// base64Forms returns the encodings of v, and the parts of the encodings
// of a longer text holding v that depend on v alone, at each alignment.
func base64Forms(v string) []string {
	var out []string
	for _, enc := range encodings {
		out = append(out, enc.EncodeToString([]byte(v)))
		for skip := range 3 {
			// At alignment skip, v's bytes from skip on start a group of
			// three; only whole groups encode to characters of v alone.
			if len(v)-skip < 3 {
				continue
			}
			b := []byte(v[skip:])
			b = b[:len(b)/3*3]
			out = append(out, enc.WithPadding(base64.NoPadding).EncodeToString(b))
		}
	}
	return out
}

// String returns s with every hidden value replaced with Marker, or
// Withheld when a hidden value shows once its escapes are decoded.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	out := r.replace(s)
	if strings.ContainsAny(out, `\%`) {
		// Each piece between markers on its own: a marker may hold a
		// short value ("e" of "<redacted>"). A value inside a kept name
		// is no leak; no kept name holds a secret-looking value.
		for piece := range strings.SplitSeq(out, Marker) {
			if exposed(decode(piece), r.check, r.keep) {
				return Withheld
			}
		}
	}
	return out
}

// replace returns s with each run of r.m.runs replaced with Marker.
func (r *Redactor) replace(s string) string {
	runs := r.m.runs(s)
	if len(runs) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(runs)*len(Marker))
	at := 0
	for _, run := range runs {
		b.WriteString(s[at:run.start])
		b.WriteString(Marker)
		at = run.end
	}
	b.WriteString(s[at:])
	return b.String()
}

// Error returns err with its message redacted, or err itself when its
// message holds nothing to hide. The result unwraps to err, for
// errors.Is and errors.As.
func (r *Redactor) Error(err error) error {
	if r == nil || err == nil {
		return err
	}
	msg := err.Error()
	if red := r.String(msg); red != msg {
		return &Error{msg: red, err: err}
	}
	return err
}

// Error is an error whose message was redacted; it unwraps to the
// original.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// Redacted reports whether err's message was redacted by a Redactor.
func Redacted(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// decode undoes backslash escapes (Go, JSON, C, shell) and %XX escapes,
// leaving whatever does not decode as it is.
func decode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 3
		case c == '\\' && i+1 < len(s):
			n, w := decodeEscape(s[i:])
			if w == 0 {
				b.WriteByte(c)
				i++
				continue
			}
			b.WriteString(n)
			i += w
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// decodeEscape decodes the escape at the start of s (which starts with a
// backslash) and returns it and its width, or width 0.
func decodeEscape(s string) (string, int) {
	switch e := s[1]; e {
	case 'n':
		return "\n", 2
	case 't':
		return "\t", 2
	case 'r':
		return "\r", 2
	case 'a':
		return "\a", 2
	case 'b':
		return "\b", 2
	case 'f':
		return "\f", 2
	case 'v':
		return "\v", 2
	case 'e':
		return "\x1b", 2
	case '\\', '"', '\'', '/', '$', '`', ' ':
		return string(e), 2
	case 'x':
		if len(s) >= 4 && isHex(s[2]) && isHex(s[3]) {
			return string([]byte{unhex(s[2])<<4 | unhex(s[3])}), 4
		}
	case 'u', 'U':
		n := 4
		if e == 'U' {
			n = 8
		}
		if len(s) >= 2+n {
			if v, err := strconv.ParseUint(s[2:2+n], 16, 32); err == nil {
				if utf8.ValidRune(rune(v)) {
					return string(rune(v)), 2 + n
				}
			}
		}
	case '0', '1', '2', '3':
		if len(s) >= 4 && isOct(s[2]) && isOct(s[3]) {
			return string([]byte{(e-'0')<<6 | (s[2]-'0')<<3 | (s[3] - '0')}), 4
		}
		if e == '0' {
			return "\x00", 2
		}
	}
	return "", 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isOct(c byte) bool { return '0' <= c && c <= '7' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
