// Package strictjson decodes JSON strictly (unknown fields and trailing
// data are errors) and, when decoding fails, finds the exact JSON path and
// byte offset of the first problem, so a user learns that
// stack_deps[1][0].services[0].imagee is an unknown field rather than just
// that "imagee" is.
//
// The fast path is encoding/json with DisallowUnknownFields; the diagnosis
// walks the tokens once more and runs only when decoding has failed.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Error is a decoding problem at a JSON path.
type Error struct {
	// Path is the JSON path of the value, in the form
	// "stack_deps[1][0].services[0].image" (relative to the decoded value).
	Path string
	// Offset is the byte offset in the input where the problem was found.
	Offset int64
	// Msg says what is wrong.
	Msg string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Decode decodes data into v, which must be a non-nil pointer. Unknown
// object fields, trailing data and type mismatches are errors; the error is
// an *Error naming the path and offset of the first problem.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return &Error{Offset: dec.InputOffset(), Msg: "unexpected data after the top-level value"}
		}
		return nil
	}
	return Diagnose(data, reflect.TypeOf(v), err)
}

// Diagnose explains why data did not decode into a value of type t; cause
// is the error encoding/json returned. The result is always an *Error.
func Diagnose(data []byte, t reflect.Type, cause error) error {
	var se *json.SyntaxError
	if errors.As(cause, &se) {
		return &Error{Offset: se.Offset, Msg: "malformed JSON: " + strings.TrimPrefix(se.Error(), "json: ")}
	}
	if errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) {
		return &Error{Offset: int64(len(data)), Msg: "malformed JSON: unexpected end of input"}
	}
	w := &walker{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if e := w.value(t, ""); e != nil {
		return e
	}
	// The walk found nothing more precise; keep what encoding/json said.
	msg := strings.TrimPrefix(cause.Error(), "json: ")
	var ute *json.UnmarshalTypeError
	if errors.As(cause, &ute) {
		return &Error{Path: ute.Field, Offset: ute.Offset, Msg: fmt.Sprintf("expected %s, got %s", kindName(ute.Type), ute.Value)}
	}
	return &Error{Msg: msg}
}

// Line returns the 1-based line and column of offset in data.
func Line(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset < 0 {
		offset = 0
	}
	prefix := data[:offset]
	line = bytes.Count(prefix, []byte{'\n'}) + 1
	col = int(offset) - (bytes.LastIndexByte(prefix, '\n') + 1) + 1
	return line, col
}

type walker struct {
	data []byte
	dec  *json.Decoder
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// start returns the offset of the next value (skipping separators).
func (w *walker) start() int64 {
	off := w.dec.InputOffset()
	for off < int64(len(w.data)) {
		switch w.data[off] {
		case ' ', '\t', '\n', '\r', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (w *walker) fail(path string, off int64, format string, args ...any) *Error {
	return &Error{Path: path, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// value checks the next value against t. It returns nil when the value is
// fine (and consumed), or the first problem.
func (w *walker) value(t reflect.Type, path string) *Error {
	off := w.start()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(unmarshalerType) {
		return w.opaque(t, path, off)
	}
	tok, err := w.dec.Token()
	if err != nil {
		return w.fail(path, off, "malformed JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if tok == nil { // null decodes into anything
		return nil
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if _, ok := tok.(string); !ok {
			return w.mismatch(tok, t, path, off)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return w.skip(tok, path, off)
	case reflect.Struct:
		if tok != json.Delim('{') {
			return w.mismatch(tok, t, path, off)
		}
		fields := fieldsOf(t)
		for w.dec.More() {
			koff := w.start()
			ktok, err := w.dec.Token()
			if err != nil {
				return w.fail(path, koff, "malformed JSON: %v", err)
			}
			key := ktok.(string)
			ft, ok := fields.lookup(key)
			if !ok {
				return w.fail(Join(path, key), koff, "unknown field %q", key)
			}
			if e := w.value(ft, Join(path, key)); e != nil {
				return e
			}
		}
		_, _ = w.dec.Token() // '}'
		return nil
	case reflect.Map:
		if tok != json.Delim('{') {
			return w.mismatch(tok, t, path, off)
		}
		for w.dec.More() {
			ktok, err := w.dec.Token()
			if err != nil {
				return w.fail(path, w.start(), "malformed JSON: %v", err)
			}
			if e := w.value(t.Elem(), Join(path, ktok.(string))); e != nil {
				return e
			}
		}
		_, _ = w.dec.Token()
		return nil
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			if _, ok := tok.(string); !ok {
				return w.mismatch(tok, t, path, off)
			}
			return nil
		}
		if tok != json.Delim('[') {
			return w.mismatch(tok, t, path, off)
		}
		for i := 0; w.dec.More(); i++ {
			if e := w.value(t.Elem(), path+"["+strconv.Itoa(i)+"]"); e != nil {
				return e
			}
		}
		_, _ = w.dec.Token()
		return nil
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return w.mismatch(tok, t, path, off)
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return w.mismatch(tok, t, path, off)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return w.mismatch(tok, t, path, off)
		}
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || reflect.Zero(t).OverflowInt(v) {
			return w.fail(path, off, "expected %s, got number %s", kindName(t), n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := tok.(json.Number)
		if !ok {
			return w.mismatch(tok, t, path, off)
		}
		v, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil || reflect.Zero(t).OverflowUint(v) {
			return w.fail(path, off, "expected %s, got number %s", kindName(t), n)
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := tok.(json.Number); !ok {
			return w.mismatch(tok, t, path, off)
		}
	default:
		return w.skip(tok, path, off)
	}
	return nil
}

// opaque decodes a value of a type with its own UnmarshalJSON and rebases
// the error it returns.
func (w *walker) opaque(t reflect.Type, path string, off int64) *Error {
	var raw json.RawMessage
	if err := w.dec.Decode(&raw); err != nil {
		return w.fail(path, off, "malformed JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		p := e.Path
		switch {
		case p == "":
			p = path
		case path != "" && p[0] != '[':
			p = path + "." + p
		default:
			p = path + p
		}
		return &Error{Path: p, Offset: off + e.Offset, Msg: e.Msg}
	}
	return w.fail(path, off, "%s", strings.TrimPrefix(err.Error(), "json: "))
}

func (w *walker) skip(tok json.Token, path string, off int64) *Error {
	depth := 0
	for {
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
		var err error
		if tok, err = w.dec.Token(); err != nil {
			return w.fail(path, off, "malformed JSON: %v", err)
		}
	}
}

func (w *walker) mismatch(tok json.Token, t reflect.Type, path string, off int64) *Error {
	got := ""
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			got = "object"
		} else {
			got = "array"
		}
		_ = w.skip(tok, path, off)
	case string:
		got = "string " + strconv.Quote(truncate(v, 40))
	case json.Number:
		got = "number " + string(v)
	case bool:
		got = "boolean " + strconv.FormatBool(v)
	}
	return w.fail(path, off, "expected %s, got %s", kindName(t), got)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// Join returns the path of the object member key of path: path.key when
// key is a plain name (letters, digits, '_' and '-'), else path["key"]
// quoted, so a path never holds a dot, bracket or line break of a key.
func Join(path, key string) string {
	plain := key != ""
	for i := 0; i < len(key) && plain; i++ {
		c := key[i]
		plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

type fieldSet map[string]reflect.Type

// lookup finds a field the way encoding/json does: exact name first, then
// case-insensitively.
func (f fieldSet) lookup(key string) (reflect.Type, bool) {
	if t, ok := f[key]; ok {
		return t, true
	}
	for k, t := range f {
		if strings.EqualFold(k, key) {
			return t, true
		}
	}
	return nil, false
}

var fieldCache sync.Map // reflect.Type -> fieldSet

func fieldsOf(t reflect.Type) fieldSet {
	if f, ok := fieldCache.Load(t); ok {
		return f.(fieldSet)
	}
	f := fieldSet{}
	collect(t, f)
	fieldCache.Store(t, f)
	return f
}

// collect adds the JSON fields of t to f; a field of t shadows a field of
// the same name in a struct t embeds, as in encoding/json.
func collect(t reflect.Type, f fieldSet) {
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := f[name]; !dup {
			f[name] = sf.Type
		}
	}
	for _, et := range embedded {
		collect(et, f)
	}
}
