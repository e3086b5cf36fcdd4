package product

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/stackwave/stackwave/internal/fieldpath"
	"github.com/stackwave/stackwave/stack"
)

// Decode reads a product document in JSON or YAML, with the same field
// names and the same rules. Input whose first non-blank character is '{'
// is read as JSON, anything else as YAML.
//
// Decoding is strict, so that what a reviewer reads is what stackwave
// deploys: an unknown field, a field given twice, a field name in another
// case than the one documented ("Product_Name"), invalid UTF-8 and
// trailing data are errors. YAML is read as YAML 1.2: only true and false
// are booleans ("no" is a string), anchors and aliases are expanded, and a
// second document in the stream is an error.
//
// Every error matches ErrInvalidArgs and is a *DecodeError naming the
// field as the document wrote it and, for JSON and YAML alike, the line
// and column.
//
// Two shorthand forms are accepted and normalised: envs written as an
// object of names to values (a string, number or boolean) become "K=V"
// entries sorted by name, and a single access point written as
// "access_point" becomes the first entry of access_points. The decoded
// document is the normalised spec, which is what stackwave stores,
// hashes and returns; Document.Shorthands remembers where the shorthands
// were used, so that package validate names fields as written.
//
// Decode does not check the rules of the product (names, images,
// ports...); see package validate.
func Decode(data []byte) (*Document, error) {
	doc := new(Document)
	sh, err := decode(data, doc)
	if err != nil {
		return nil, err
	}
	doc.Shorthands = sh
	return doc, nil
}

// DecodeDeps reads a bare stack_deps list in JSON or YAML, as a template
// holds it, with the same strictness and errors as Decode.
func DecodeDeps(data []byte) (stack.Deps, error) {
	var deps stack.Deps
	if _, err := decode(data, &deps); err != nil {
		return nil, err
	}
	return deps, nil
}

// DecodeDepsShorthands is DecodeDeps that also returns where the spec
// used shorthand forms, for validate.Options.Shorthands.
func DecodeDepsShorthands(data []byte) (stack.Deps, Shorthands, error) {
	var deps stack.Deps
	sh, err := decode(data, &deps)
	if err != nil {
		return nil, nil, err
	}
	return deps, sh, nil
}

// DecodeJSON is Decode for input known to be JSON, into any value: callers
// that embed a document or a spec in a larger request use it with their
// own types. v must be a non-nil pointer. When v is a *Document, its
// Shorthands are set.
func DecodeJSON(data []byte, v any) error {
	sh, err := DecodeJSONShorthands(data, v)
	if d, ok := v.(*Document); ok && err == nil {
		d.Shorthands = sh
	}
	return err
}

// DecodeJSONShorthands is DecodeJSON that also returns where the
// stack_deps held by v were written in shorthand forms, for
// validate.Options.Shorthands.
func DecodeJSONShorthands(data []byte, v any) (Shorthands, error) {
	return decodeJSON(bytes.TrimPrefix(data, bom), v)
}

var bom = []byte("\ufeff")

func decode(data []byte, v any) (Shorthands, error) {
	// A byte order mark is not JSON; editors on some systems add one.
	data = bytes.TrimPrefix(data, bom)
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &DecodeError{Msg: "empty document", offset: -1}
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		if sh, ok := fastDecode(data, v); ok {
			return sh, nil
		}
		return decodeJSON(data, v)
	}
	return decodeYAML(data, v)
}

// Shorthand records a service that a document wrote in a shorthand form
// that decoding normalises. Tier, Stack and Service locate it in
// stack_deps.
type Shorthand struct {
	Tier, Stack, Service int
	// EnvsObject: envs was written as an object; the spec holds its
	// entries as "K=V", sorted by name.
	EnvsObject bool
	// AccessPoint: a single access_point was written; it is the first
	// entry of the spec's access_points.
	AccessPoint bool
}

// Shorthands lists shorthand services in document order.
type Shorthands []Shorthand

// Of returns what is recorded for service k of stack s of tier t, or the
// zero Shorthand.
func (l Shorthands) Of(t, s, k int) Shorthand {
	i, ok := slices.BinarySearchFunc(l, [3]int{t, s, k}, func(e Shorthand, p [3]int) int {
		switch {
		case e.Tier != p[0]:
			return e.Tier - p[0]
		case e.Stack != p[1]:
			return e.Stack - p[1]
		}
		return e.Service - p[2]
	})
	if !ok {
		return Shorthand{}
	}
	return l[i]
}

// The reference decoder is github.com/go-json-experiment/json with
// unknown members refused; duplicate names and invalid UTF-8 are refused
// by its defaults. The shorthand forms are read by two functions given
// for the call, which also record where they were used: the model's
// struct tags stay the only schema.

// reader holds the options of one reference decoding and what it
// records; readers are pooled because each keeps a cache of its
// functions by type.
type reader struct {
	opts       json.Options
	shorthands Shorthands
	// envsObject says whether the service being decoded wrote its envs
	// as an object.
	envsObject bool
	pairs      []envPair
}

var readers = sync.Pool{New: func() any {
	r := new(reader)
	r.opts = json.JoinOptions(
		json.RejectUnknownMembers(true),
		json.WithUnmarshalers(json.JoinUnmarshalers(
			json.UnmarshalFromFunc(r.service),
			json.UnmarshalFromFunc(r.envs),
		)),
	)
	return r
}}

func decodeJSON(data []byte, v any) (Shorthands, error) {
	r := readers.Get().(*reader)
	defer func() {
		r.shorthands, r.envsObject = r.shorthands[:0], false
		clear(r.pairs)
		r.pairs = r.pairs[:0]
		readers.Put(r)
	}()
	if err := json.Unmarshal(data, v, r.opts); err != nil {
		return nil, describe(data, err)
	}
	if len(r.shorthands) == 0 {
		return nil, nil
	}
	return slices.Clone(r.shorthands), nil
}

// serviceFields is stack.Service without its methods, so that wireService
// can embed it.
type serviceFields stack.Service

// wireService is a service as documents may write it: the model's fields
// and the single access point shorthand.
type wireService struct {
	*serviceFields
	AccessPoint *stack.AccessPoint `json:"access_point"`
}

func (r *reader) service(dec *jsontext.Decoder, s *stack.Service) error {
	r.envsObject = false
	w := wireService{serviceFields: (*serviceFields)(s)}
	if err := json.UnmarshalDecode(dec, &w); err != nil {
		return err
	}
	if w.AccessPoint != nil {
		aps := make([]stack.AccessPoint, 0, 1+len(s.AccessPoints))
		s.AccessPoints = append(append(aps, *w.AccessPoint), s.AccessPoints...)
	}
	if w.AccessPoint != nil || r.envsObject {
		if t, st, k, ok := servicePosition(dec.StackPointer()); ok {
			r.shorthands = append(r.shorthands, Shorthand{Tier: t, Stack: st, Service: k, EnvsObject: r.envsObject, AccessPoint: w.AccessPoint != nil})
		}
	}
	r.envsObject = false
	return nil
}

// servicePosition reads the tier, stack and service of a pointer ending
// in /T/S/services/K.
func servicePosition(p jsontext.Pointer) (t, s, k int, ok bool) {
	var last [4]string
	n := 0
	for tok := range p.Tokens() {
		copy(last[:], last[1:])
		last[3] = tok
		n++
	}
	if n < 4 || last[2] != "services" {
		return 0, 0, 0, false
	}
	t, err1 := strconv.Atoi(last[0])
	s, err2 := strconv.Atoi(last[1])
	k, err3 := strconv.Atoi(last[3])
	return t, s, k, err1 == nil && err2 == nil && err3 == nil
}

type envPair struct{ key, value string }

// envs reads a service's envs written as an object. Lists, and []string
// values other than envs, are left to the default.
func (r *reader) envs(dec *jsontext.Decoder, out *[]string) error {
	switch dec.PeekKind() {
	case '[', 'n':
		return errors.ErrUnsupported
	}
	if dec.StackPointer().LastToken() != "envs" {
		return errors.ErrUnsupported
	}
	if k := dec.PeekKind(); k != '{' {
		return errors.New(`expected an array of "KEY=VALUE" strings or an object of names to values, got ` + kindName(k))
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	base := len(r.pairs)
	for dec.PeekKind() != '}' {
		nameAt := nextOffset(dec)
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		key := name.String()
		if strings.IndexByte(key, '=') >= 0 {
			// "K=V" could not tell this name from its value.
			return &json.SemanticError{JSONPointer: dec.StackPointer(), ByteOffset: nameAt, Err: errors.New("env names must not contain '='")}
		}
		valueAt := nextOffset(dec)
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		var value string
		switch k := tok.Kind(); k {
		case '"', '0':
			value = tok.String()
		case 't':
			value = "true"
		case 'f':
			value = "false"
		default:
			return &json.SemanticError{JSONPointer: dec.StackPointer(), ByteOffset: valueAt,
				Err: errors.New("expected a string, number or boolean, got " + kindName(k))}
		}
		r.pairs = append(r.pairs, envPair{key, value})
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	kv := r.pairs[base:]
	slices.SortFunc(kv, func(a, b envPair) int { return strings.Compare(a.key, b.key) })
	list := make([]string, len(kv))
	for i, p := range kv {
		list[i] = p.key + "=" + p.value
	}
	clear(kv)
	r.pairs = r.pairs[:base]
	*out = list
	r.envsObject = true
	return nil
}

// nextOffset returns the offset of the next token: the decoder's offset
// past blanks and separators.
func nextOffset(dec *jsontext.Decoder) int64 {
	off := dec.InputOffset()
	for _, c := range dec.UnreadBuffer() {
		switch c {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '0':
		return "number"
	}
	return "nothing"
}

// describe turns an error of the reference decoder into a *DecodeError
// naming the field as data writes it.
func describe(data []byte, err error) *DecodeError {
	de := describeAt(data, err)
	if de.offset >= 0 {
		de.Line, de.Column = position(data, de.offset)
	}
	return de
}

func describeAt(data []byte, err error) *DecodeError {
	var sy *jsontext.SyntacticError
	var se *json.SemanticError
	switch {
	case errors.As(err, &sy):
		de := &DecodeError{Field: pathOf(data, sy.JSONPointer), offset: sy.ByteOffset}
		msg := ""
		if sy.Err != nil {
			msg = sy.Err.Error()
		}
		switch {
		case errors.Is(sy.Err, io.ErrUnexpectedEOF):
			de.Msg = "malformed JSON: unexpected end of input"
		case errors.Is(sy.Err, jsontext.ErrDuplicateName):
			de.Msg = "duplicate field " + strconv.Quote(sy.JSONPointer.LastToken()) + ": a name may appear once in an object"
		case strings.Contains(msg, "invalid UTF-8"):
			de.Msg = "invalid UTF-8 in a string"
		case strings.Contains(msg, "after top-level value"):
			de.Field = ""
			de.Msg = "unexpected data after the top-level value"
		default:
			de.Msg = "malformed JSON: " + msg
		}
		return de
	case errors.As(err, &se):
		de := &DecodeError{Field: pathOf(data, se.JSONPointer), offset: se.ByteOffset}
		switch {
		case errors.Is(se.Err, json.ErrUnknownName):
			name := se.JSONPointer.LastToken()
			de.Msg = "unknown field " + strconv.Quote(name)
			if known := knownName(se.GoType, name); known != "" {
				de.Msg += "; names are case-sensitive: did you mean " + strconv.Quote(known) + "?"
			}
		case se.Err != nil && !errors.Is(se.Err, strconv.ErrSyntax) && !errors.Is(se.Err, strconv.ErrRange):
			de.Msg = se.Err.Error()
		default:
			de.Msg = "expected " + typeName(se.GoType) + ", got " + kindName(se.JSONKind)
			if v := valueAt(data, se.ByteOffset, se.JSONKind); v != "" && !isEnvPath(de.Field) {
				de.Msg += " " + v
			}
		}
		return de
	}
	return &DecodeError{Msg: err.Error(), offset: -1}
}

// isEnvPath reports whether path names envs or something in them: their
// values may be secrets and are never shown.
func isEnvPath(path string) bool {
	for rest := path; ; {
		i := strings.Index(rest, ".envs")
		if i < 0 {
			return false
		}
		rest = rest[i+len(".envs"):]
		if rest == "" || rest[0] == '.' || rest[0] == '[' {
			return true
		}
	}
}

// typeName says what JSON a Go type reads.
func typeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.String()
}

// knownName returns the field name of struct type t that matches name
// but for case, or "".
func knownName(t reflect.Type, name string) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			if k := knownName(f.Type, name); k != "" {
				return k
			}
			continue
		}
		if tag != "" && strings.EqualFold(tag, name) {
			return tag
		}
	}
	return ""
}

// valueAt returns the number, or the string quoted and shortened, that
// starts at off; "" for other kinds.
func valueAt(data []byte, off int64, k jsontext.Kind) string {
	if k != '"' && k != '0' || off < 0 || off >= int64(len(data)) {
		return ""
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data[off:]), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	tok, err := dec.ReadToken()
	if err != nil {
		return ""
	}
	if tok.Kind() == '0' {
		return tok.String()
	}
	s := tok.String()
	if len(s) > 80 {
		cut := 77
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strconv.Quote(s)
}

// pathOf writes pointer p into data as a field path: object members as
// ".name" (or `["a.b"]`), array elements as "[i]". Whether a token is a
// member or an element is read from data.
func pathOf(data []byte, p jsontext.Pointer) string {
	var path string
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	known := true // the walk still follows data
	var toks []string
	for tok := range p.Tokens() {
		toks = append(toks, tok)
	}
	for i, tok := range toks {
		last := i == len(toks)-1
		kind := jsontext.Kind(0)
		if known {
			kind = dec.PeekKind()
		}
		switch kind {
		case '{':
			path = fieldpath.Key(path, tok)
			if last || !descendMember(dec, tok) {
				known = false
			}
		case '[':
			n, err := strconv.Atoi(tok)
			if err != nil {
				return fieldpath.Key(path, tok)
			}
			path = fieldpath.Index(path, n)
			if last || !descendElement(dec, n) {
				known = false
			}
		default:
			known = false
			if n, err := strconv.Atoi(tok); err == nil && strconv.Itoa(n) == tok {
				path = fieldpath.Index(path, n)
			} else {
				path = fieldpath.Key(path, tok)
			}
		}
	}
	return path
}

// descendMember reads an object up to the value of member name.
func descendMember(dec *jsontext.Decoder, name string) bool {
	if _, err := dec.ReadToken(); err != nil {
		return false
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return false
		}
		if tok.String() == name {
			return true
		}
		if dec.SkipValue() != nil {
			return false
		}
	}
	return false
}

// descendElement reads an array up to its element n.
func descendElement(dec *jsontext.Decoder, n int) bool {
	if _, err := dec.ReadToken(); err != nil {
		return false
	}
	for range n {
		if dec.PeekKind() == ']' || dec.SkipValue() != nil {
			return false
		}
	}
	return dec.PeekKind() != ']'
}

// position returns the 1-based line and column (in characters) of offset
// in data.
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	prefix := data[:offset]
	start := bytes.LastIndexByte(prefix, '\n') + 1
	return bytes.Count(prefix, []byte{'\n'}) + 1, utf8.RuneCount(prefix[start:]) + 1
}
