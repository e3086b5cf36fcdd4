package product

import (
	"bytes"
	"errors"
	"io"
	"strings"

	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/stackwave/stackwave/internal/strictjson"
	"github.com/stackwave/stackwave/stack"
)

// Decode reads a product document in JSON or YAML (with the same field
// names). Input whose first non-blank character is '{' is read as JSON,
// anything else as YAML. Unknown fields are errors, so typos never pass
// silently. Every error matches ErrInvalidArgs and is a *DecodeError
// naming the field, and for JSON the line and column.
//
// Decode does not check the rules of the product (names, images, ports...);
// see package validate.
func Decode(data []byte) (*Document, error) {
	doc := new(Document)
	if err := decode(data, doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// DecodeDeps reads a bare stack_deps list in JSON or YAML, as a template
// holds it, with the same strictness and errors as Decode.
func DecodeDeps(data []byte) (stack.Deps, error) {
	var deps stack.Deps
	if err := decode(data, &deps); err != nil {
		return nil, err
	}
	return deps, nil
}

// DecodeJSON is Decode for input known to be JSON. Callers that embed a
// document in a larger request use it with their own types; v must be a
// pointer.
func DecodeJSON(data []byte, v any) error {
	err := strictjson.Decode(data, v)
	if err == nil {
		return nil
	}
	var se *strictjson.Error
	if !errors.As(err, &se) {
		return &DecodeError{Msg: err.Error()}
	}
	line, col := strictjson.Line(data, se.Offset)
	return &DecodeError{Field: se.Path, Line: line, Column: col, Msg: se.Msg}
}

func decode(data []byte, v any) error {
	// A byte order mark is not JSON; editors on some systems add one.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return &DecodeError{Msg: "empty document"}
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		if fastDecode(data, v) {
			return nil
		}
		return DecodeJSON(data, v)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return &DecodeError{Msg: "malformed YAML: " + strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")}
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return &DecodeError{Msg: "empty document"}
	}
	if err := singleYAMLDocument(data); err != nil {
		return err
	}
	if fastDecode(js, v) {
		return nil
	}
	if err := DecodeJSON(js, v); err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			de.Line, de.Column = 0, 0 // offsets of the converted JSON mean nothing to the user
		}
		return err
	}
	return nil
}

// singleYAMLDocument refuses input holding a second, non-empty YAML
// document, which would otherwise be ignored silently.
func singleYAMLDocument(data []byte) error {
	if !bytes.Contains(data, []byte("---")) {
		return nil
	}
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	for n := 0; ; n++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &DecodeError{Msg: "malformed YAML: " + err.Error()}
		}
		if n > 0 && v != nil {
			return &DecodeError{Msg: "malformed YAML: more than one document"}
		}
	}
}
