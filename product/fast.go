package product

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/stackwave/stackwave/stack"
)

// The fast decoder reads the common shape of product documents in one
// pass without reflection. It gives up on anything unusual: malformed
// JSON, null, a key that is unknown, repeated, escaped or not in its exact
// case, invalid UTF-8, a number that is not a plain integer where one is
// expected. The reference decoder (decodeJSON) then reads the document
// again; it is the reference, and either produces the same value or the
// precise error. FuzzFastDecode checks that both agree whenever the fast
// decoder succeeds, and TestFastDecoderKnowsEveryField that the fast
// decoder reads every field of the model.

// giveUp is panicked to abandon the fast decoder; only fastDecode
// recovers it.
type giveUp struct{}

// fastDecode decodes data into v (a *Document or a *stack.Deps) and
// reports whether it could, with the services written in shorthand forms.
func fastDecode(data []byte, v any) (sh Shorthands, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, isGiveUp := r.(giveUp); !isGiveUp {
				panic(r)
			}
			sh, ok = nil, false
		}
	}()
	d := &fastDecoder{data: data}
	d.space()
	// Decode into fresh values: after giving up, the reference decoder
	// must start from the zero value, not from what was read so far.
	switch v := v.(type) {
	case *Document:
		var doc Document
		d.document(&doc)
		if d.end() {
			*v = doc
			return d.shorthands, true
		}
	case *stack.Deps:
		deps := d.deps()
		if d.end() {
			*v = deps
			return d.shorthands, true
		}
	}
	return nil, false
}

// end reports whether only blanks are left.
func (d *fastDecoder) end() bool {
	d.space()
	return d.i == len(d.data)
}

type fastDecoder struct {
	data []byte
	i    int
	// scratch slices reused between lists, copied out at their exact size.
	strs  []string
	ints  []int
	svcs  []stack.Service
	stks  []stack.Stack
	envKV []envPair
	chunk strings.Builder // see makeString

	// tier and stack locate the stack being read, for shorthands.
	tier, stack int
	shorthands  Shorthands
}

func (d *fastDecoder) fail() { panic(giveUp{}) }

func (d *fastDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next non-blank byte without consuming it.
func (d *fastDecoder) peek() byte {
	d.space()
	if d.i >= len(d.data) {
		d.fail()
	}
	return d.data[d.i]
}

func (d *fastDecoder) expect(c byte) {
	if d.peek() != c {
		d.fail()
	}
	d.i++
}

// more is called inside an array or object after '[' or '{' (first true)
// or after an element; it consumes ',' and reports whether another
// element follows, or consumes the closing byte.
func (d *fastDecoder) more(closing byte, first bool) bool {
	c := d.peek()
	if c == closing {
		d.i++
		return false
	}
	if !first {
		if c != ',' {
			d.fail()
		}
		d.i++
	}
	return true
}

// rawString consumes a string and returns its bytes when they need no
// unescaping and are valid UTF-8; otherwise the decoded string is
// returned in s with raw nil. Invalid UTF-8 and invalid escapes give up.
func (d *fastDecoder) rawString() (raw []byte, s string) {
	if d.peek() != '"' {
		d.fail()
	}
	start := d.i + 1
	escaped, ascii := false, true
	for i := start; i < len(d.data); i++ {
		for i < len(d.data) && !stringSpecial[d.data[i]] {
			i++
		}
		if i == len(d.data) {
			break
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.i = i + 1
			if !escaped && (ascii || utf8.Valid(d.data[start:i])) {
				return d.data[start:i], ""
			}
			return nil, d.slowString(d.data[start-1 : i+1])
		case c == '\\':
			escaped = true
			i++ // the escaped byte; \uXXXX digits are plain bytes
		case c < 0x20:
			d.fail() // not allowed unescaped in JSON
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	d.fail()
	return nil, ""
}

// stringSpecial marks the bytes that end the plain run of a string.
var stringSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// slowString decodes a quoted string with escapes or invalid UTF-8 the
// way the reference decoder does: it gives up on invalid UTF-8 and on
// escapes of lone surrogates.
func (d *fastDecoder) slowString(quoted []byte) string {
	b, err := jsontext.AppendUnquote(nil, quoted)
	if err != nil {
		d.fail()
	}
	return string(b)
}

func (d *fastDecoder) str() string {
	raw, s := d.rawString()
	if raw != nil {
		return d.makeString(raw)
	}
	return s
}

// Strings are copied into shared chunks rather than allocated one by
// one: a product holds a great many short strings. A string kept alive
// keeps at most its chunk, never the input.
const (
	stringChunk   = 8 << 10
	maxChunkedLen = 256
)

// makeEnv returns key + "=" + value, made like makeString.
func (d *fastDecoder) makeEnv(key, value string) string {
	n := len(key) + 1 + len(value)
	if n > maxChunkedLen {
		return key + "=" + value
	}
	d.reserve(n)
	start := d.chunk.Len()
	d.chunk.WriteString(key)
	d.chunk.WriteByte('=')
	d.chunk.WriteString(value)
	return d.chunk.String()[start:]
}

// reserve makes room for n bytes in the current chunk.
func (d *fastDecoder) reserve(n int) {
	if d.chunk.Cap()-d.chunk.Len() < n {
		// A Builder never changes bytes it has handed out, so strings
		// already made from the old chunk stay valid.
		d.chunk = strings.Builder{}
		d.chunk.Grow(stringChunk)
	}
}

func (d *fastDecoder) makeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxChunkedLen {
		return string(b)
	}
	d.reserve(len(b))
	start := d.chunk.Len()
	d.chunk.Write(b)
	return d.chunk.String()[start:]
}

// key consumes an object key and its ':'. Keys that need unescaping are
// left to the reference decoder.
func (d *fastDecoder) key() []byte {
	raw, _ := d.rawString()
	if raw == nil {
		d.fail()
	}
	d.expect(':')
	return raw
}

// seen records field bit in *mask; a repeated key gives up, leaving the
// reference decoder to refuse it with its path.
func (d *fastDecoder) seen(mask *uint32, bit uint32) {
	if *mask&bit != 0 {
		d.fail()
	}
	*mask |= bit
}

// number consumes a JSON number and returns its text.
func (d *fastDecoder) number() []byte {
	d.space()
	start, i := d.i, d.i
	digits := func() int {
		n := 0
		for i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(d.data) && d.data[i] == '-' {
		i++
	}
	if i < len(d.data) && d.data[i] == '0' {
		i++
	} else if digits() == 0 {
		d.fail()
	}
	if i < len(d.data) && d.data[i] == '.' {
		i++
		if digits() == 0 {
			d.fail()
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.fail()
		}
	}
	d.i = i
	return d.data[start:i]
}

// integer consumes a number that must be a plain integer of int's range.
func (d *fastDecoder) integer() int {
	n := d.number()
	neg := n[0] == '-'
	if neg {
		n = n[1:]
	}
	if len(n) > 18 { // beyond that, leave overflow to the reference
		d.fail()
	}
	v := 0
	for _, c := range n {
		if c < '0' || c > '9' {
			d.fail() // a fraction or an exponent
		}
		v = v*10 + int(c-'0')
	}
	if neg {
		v = -v
	}
	return v
}

// boolean consumes true or false.
func (d *fastDecoder) boolean() bool {
	d.space()
	rest := d.data[d.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		d.i += 4
		return true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		d.i += 5
		return false
	}
	d.fail()
	return false
}

// strings consumes an array of strings.
func (d *fastDecoder) strings() []string { return scratchList(d, &d.strs, d.str) }

// integers consumes an array of integers.
func (d *fastDecoder) integers() []int { return scratchList(d, &d.ints, d.integer) }

// scratchList consumes an array, gathering its elements in a scratch slice
// shared by nested arrays and returning an exactly sized copy (an empty,
// non-nil slice for []).
func scratchList[T any](d *fastDecoder, scratch *[]T, elem func() T) []T {
	d.expect('[')
	base := len(*scratch)
	for first := true; d.more(']', first); first = false {
		*scratch = append(*scratch, elem())
	}
	out := slices.Clone((*scratch)[base:])
	if out == nil {
		out = []T{}
	}
	clear((*scratch)[base:]) // drop references for the collector
	*scratch = (*scratch)[:base]
	return out
}

// list consumes an array of elements too rare to be worth a scratch
// slice.
func list[T any](d *fastDecoder, elem func() T) []T {
	d.expect('[')
	var out []T
	for first := true; d.more(']', first); first = false {
		out = append(out, elem())
	}
	if out == nil {
		out = []T{}
	}
	return slices.Clip(out)
}

func (d *fastDecoder) document(doc *Document) {
	d.expect('{')
	var mask uint32
	for first := true; d.more('}', first); first = false {
		switch string(d.key()) {
		case "product_name":
			d.seen(&mask, 1<<0)
			doc.Name = d.str()
		case "stack_deps":
			d.seen(&mask, 1<<1)
			doc.StackDeps = d.deps()
		case "template_url":
			d.seen(&mask, 1<<2)
			doc.TemplateURL = d.str()
		case "provider_name":
			d.seen(&mask, 1<<3)
			doc.ProviderName = d.str()
		case "description":
			d.seen(&mask, 1<<4)
			doc.Description = d.str()
		case "product_type":
			d.seen(&mask, 1<<5)
			doc.ProductType = d.str()
		case "visibility":
			d.seen(&mask, 1<<6)
			doc.Visibility = Visibility(d.str())
		case "tags":
			d.seen(&mask, 1<<7)
			doc.Tags = d.tags()
		case "version_name":
			d.seen(&mask, 1<<8)
			doc.VersionName = d.str()
		case "version_description":
			d.seen(&mask, 1<<9)
			doc.VersionDescription = d.str()
		case "guidance":
			d.seen(&mask, 1<<10)
			doc.Guidance = Guidance(d.str())
		case "active":
			d.seen(&mask, 1<<11)
			b := d.boolean()
			doc.Active = &b
		default:
			d.fail()
		}
	}
}

func (d *fastDecoder) tags() map[string]string {
	d.expect('{')
	m := map[string]string{}
	for first := true; d.more('}', first); first = false {
		k := d.key()
		if _, dup := m[string(k)]; dup {
			d.fail()
		}
		m[string(k)] = d.str()
	}
	return m
}

// deps consumes stack_deps. Every stack lands in one slice, as
// stack.Deps.UnmarshalJSON does.
func (d *fastDecoder) deps() stack.Deps {
	d.expect('[')
	var tierLens []int
	for first := true; d.more(']', first); first = false {
		d.expect('[')
		n := 0
		for f := true; d.more(']', f); f = false {
			d.tier, d.stack = len(tierLens), n
			d.stks = append(d.stks, d.readStack())
			n++
		}
		tierLens = append(tierLens, n)
	}
	stacks := slices.Clone(d.stks)
	if stacks == nil {
		stacks = []stack.Stack{}
	}
	d.stks = d.stks[:0]
	deps := make(stack.Deps, len(tierLens))
	for i, n := range tierLens {
		deps[i] = stacks[:n:n]
		stacks = stacks[n:]
	}
	return deps
}

func (d *fastDecoder) readStack() stack.Stack {
	var s stack.Stack
	d.expect('{')
	var mask uint32
	for first := true; d.more('}', first); first = false {
		switch string(d.key()) {
		case "stack_name":
			d.seen(&mask, 1<<0)
			s.Name = d.str()
		case "services":
			d.seen(&mask, 1<<1)
			s.Services = d.services()
		case "depends_on":
			d.seen(&mask, 1<<2)
			s.DependsOn = d.strings()
		case "init_scripts":
			d.seen(&mask, 1<<3)
			s.InitScripts = d.initScripts()
		default:
			d.fail()
		}
	}
	return s
}

func (d *fastDecoder) services() []stack.Service {
	d.expect('[')
	base := len(d.svcs)
	for first := true; d.more(']', first); first = false {
		d.svcs = append(d.svcs, stack.Service{})
		d.service(len(d.svcs)-1, len(d.svcs)-1-base)
	}
	out := slices.Clone(d.svcs[base:])
	if out == nil {
		out = []stack.Service{}
	}
	clear(d.svcs[base:]) // drop references for the collector
	d.svcs = d.svcs[:base]
	return out
}

// service decodes service k of the stack into d.svcs[at]; the scratch
// slice may grow meanwhile, so the element is addressed by index.
func (d *fastDecoder) service(at, k int) {
	d.expect('{')
	var mask uint32
	var single *stack.AccessPoint
	envsObject := false
	for first := true; d.more('}', first); first = false {
		key := d.key()
		s := &d.svcs[at]
		switch string(key) {
		case "service_name":
			d.seen(&mask, 1<<0)
			s.Name = d.str()
		case "unit_type":
			d.seen(&mask, 1<<1)
			s.UnitType = d.str()
		case "image":
			d.seen(&mask, 1<<2)
			s.Image = d.image()
		case "envs":
			d.seen(&mask, 1<<3)
			envsObject = d.peek() == '{'
			envs := d.envs()
			d.svcs[at].Envs = envs
		case "command":
			d.seen(&mask, 1<<4)
			cmd := d.strings()
			d.svcs[at].Command = cmd
		case "volume_args":
			d.seen(&mask, 1<<5)
			s.VolumeArgs = d.volumeArgs()
		case "access_points":
			d.seen(&mask, 1<<6)
			s.AccessPoints = d.accessPoints()
		case "access_point":
			d.seen(&mask, 1<<7)
			ap := d.accessPoint()
			single = &ap
		case "config_paths":
			d.seen(&mask, 1<<8)
			paths := d.strings()
			d.svcs[at].ConfigPaths = paths
		case "instances":
			d.seen(&mask, 1<<9)
			s.Instances = d.integer()
		case "readiness_probe":
			d.seen(&mask, 1<<10)
			s.Readiness = d.probe()
		default:
			d.fail()
		}
	}
	if single != nil {
		s := &d.svcs[at]
		aps := make([]stack.AccessPoint, 0, 1+len(s.AccessPoints))
		s.AccessPoints = append(append(aps, *single), s.AccessPoints...)
	}
	if single != nil || envsObject {
		d.shorthands = append(d.shorthands, Shorthand{Tier: d.tier, Stack: d.stack, Service: k, EnvsObject: envsObject, AccessPoint: single != nil})
	}
}

func (d *fastDecoder) image() stack.Image {
	var img stack.Image
	d.expect('{')
	var mask uint32
	for first := true; d.more('}', first); first = false {
		switch string(d.key()) {
		case "name":
			d.seen(&mask, 1<<0)
			img.Name = d.str()
		case "tag":
			d.seen(&mask, 1<<1)
			img.Tag = d.str()
		case "digest":
			d.seen(&mask, 1<<2)
			img.Digest = d.str()
		default:
			d.fail()
		}
	}
	return img
}

// envs consumes a list of "K=V" strings or an object of names to
// strings, numbers or booleans, which becomes "K=V" entries sorted by
// name.
func (d *fastDecoder) envs() []string {
	if d.peek() == '[' {
		return d.strings()
	}
	d.expect('{')
	base := len(d.envKV)
	for first := true; d.more('}', first); first = false {
		raw, k := d.rawString()
		if raw != nil {
			k = d.makeString(raw)
		}
		d.expect(':')
		if strings.IndexByte(k, '=') >= 0 {
			d.fail()
		}
		var v string
		switch c := d.peek(); {
		case c == '"':
			v = d.str()
		case c == 't' || c == 'f':
			if d.boolean() {
				v = "true"
			} else {
				v = "false"
			}
		default:
			n := d.number()
			if _, err := strconv.ParseFloat(string(n), 64); err != nil {
				d.fail()
			}
			v = d.makeString(n)
		}
		d.envKV = append(d.envKV, envPair{k, v})
	}
	kv := d.envKV[base:]
	slices.SortFunc(kv, func(a, b envPair) int { return strings.Compare(a.key, b.key) })
	out := make([]string, len(kv))
	for i, p := range kv {
		if i > 0 && kv[i-1].key == p.key {
			d.fail() // a repeated name: the last one wins in the reference
		}
		out[i] = d.makeEnv(p.key, p.value)
	}
	clear(kv)
	d.envKV = d.envKV[:base]
	return out
}

func (d *fastDecoder) volumeArgs() []stack.VolumeArg { return list(d, d.volumeArg) }

func (d *fastDecoder) volumeArg() stack.VolumeArg {
	var va stack.VolumeArg
	d.expect('{')
	var mask uint32
	for first := true; d.more('}', first); first = false {
		switch string(d.key()) {
		case "mount_path":
			d.seen(&mask, 1<<0)
			va.MountPath = d.str()
		case "unit_type":
			d.seen(&mask, 1<<1)
			va.UnitType = d.str()
		default:
			d.fail()
		}
	}
	return va
}

func (d *fastDecoder) accessPoints() []stack.AccessPoint { return list(d, d.accessPoint) }

func (d *fastDecoder) accessPoint() stack.AccessPoint {
	var ap stack.AccessPoint
	d.expect('{')
	var mask uint32
	for first := true; d.more('}', first); first = false {
		switch string(d.key()) {
		case "type":
			d.seen(&mask, 1<<0)
			ap.Type = d.str()
		case "backend_ports":
			d.seen(&mask, 1<<1)
			ap.BackendPorts = d.integers()
		case "proto":
			d.seen(&mask, 1<<2)
			ap.Proto = d.str()
		case "host_ports":
			d.seen(&mask, 1<<3)
			ap.HostPorts = d.integers()
		default:
			d.fail()
		}
	}
	return ap
}

func (d *fastDecoder) initScripts() []stack.InitScript { return list(d, d.initScript) }

func (d *fastDecoder) initScript() stack.InitScript {
	var is stack.InitScript
	d.expect('{')
	var mask uint32
	for first := true; d.more('}', first); first = false {
		switch string(d.key()) {
		case "service_name":
			d.seen(&mask, 1<<0)
			is.ServiceName = d.str()
		case "command":
			d.seen(&mask, 1<<1)
			is.Command = d.strings()
		default:
			d.fail()
		}
	}
	return is
}

func (d *fastDecoder) probe() *stack.Probe {
	p := new(stack.Probe)
	d.expect('{')
	var mask uint32
	for first := true; d.more('}', first); first = false {
		switch string(d.key()) {
		case "type":
			d.seen(&mask, 1<<0)
			p.Type = d.str()
		case "port":
			d.seen(&mask, 1<<1)
			p.Port = d.integer()
		case "path":
			d.seen(&mask, 1<<2)
			p.Path = d.str()
		case "expected_codes":
			d.seen(&mask, 1<<3)
			p.ExpectedCodes = d.integers()
		case "command":
			d.seen(&mask, 1<<4)
			p.Command = d.strings()
		case "period":
			d.seen(&mask, 1<<5)
			p.Period = d.duration()
		case "timeout":
			d.seen(&mask, 1<<6)
			p.Timeout = d.duration()
		default:
			d.fail()
		}
	}
	return p
}

// duration consumes a Go duration string or a number of seconds, as
// stack.Duration.UnmarshalJSON reads them.
func (d *fastDecoder) duration() stack.Duration {
	if d.peek() == '"' {
		v, err := time.ParseDuration(d.str())
		if err != nil {
			d.fail()
		}
		return stack.Duration(v)
	}
	secs, err := strconv.ParseFloat(string(d.number()), 64)
	if err != nil {
		d.fail()
	}
	ns := secs * float64(time.Second)
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		d.fail()
	}
	return stack.Duration(ns)
}
