package product

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"go.yaml.in/yaml/v3"
)

// YAML documents are converted to JSON and read by the same decoders as
// JSON documents, so that both forms follow the same rules and name the
// same fields. The conversion reads scalars as YAML 1.2 does (its core
// schema): only true and false are booleans, numbers are decimal, 0o
// octal or 0x hexadecimal, and everything else is a string. Errors of the
// JSON decoders are located in the YAML by re-running the conversion with
// the position of every node recorded.

// Bounds of the conversion: aliases must not expand a document beyond
// yamlExpansion times its size (and at least minYAMLExpansion bytes).
const (
	yamlExpansion    = 8
	minYAMLExpansion = 1 << 20
)

func decodeYAML(data []byte, v any) (Shorthands, error) {
	js, _, err := yamlToJSON(data, false)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(js, []byte("null")) {
		return nil, &DecodeError{Msg: "empty document", offset: -1}
	}
	if sh, ok := fastDecode(js, v); ok {
		return sh, nil
	}
	sh, err := decodeJSON(js, v)
	if err == nil {
		return sh, nil
	}
	de, ok := err.(*DecodeError)
	if !ok {
		return nil, err
	}
	// Lines and columns of the JSON mean nothing to the user: find the
	// YAML node the JSON came from.
	de.Line, de.Column = 0, 0
	if strings.HasPrefix(de.Msg, "expected string, got number") || strings.HasPrefix(de.Msg, "expected string, got boolean") {
		de.Msg += " (in YAML, write it in quotes to make it a string)"
	}
	if de.offset >= 0 {
		_, marks, _ := yamlToJSON(data, true)
		if m, ok := markAt(marks, de.offset); ok {
			de.Line, de.Column = m.line, m.column
		}
	}
	return nil, de
}

// yamlMark says that the JSON from offset off on came from the YAML node
// at line and column.
type yamlMark struct {
	off          int64
	line, column int
}

// markAt returns the last mark at or before off.
func markAt(marks []yamlMark, off int64) (yamlMark, bool) {
	i := len(marks)
	for lo, hi := 0, len(marks); lo < hi; {
		mid := (lo + hi) / 2
		if marks[mid].off > off {
			hi = mid
		} else {
			lo = mid + 1
		}
		i = lo
	}
	if i == 0 {
		return yamlMark{}, false
	}
	return marks[i-1], true
}

type yamlConverter struct {
	out    []byte
	max    int
	record bool
	marks  []yamlMark
	// expanding holds the anchors being expanded, to refuse an alias
	// inside its own anchor.
	expanding map[*yaml.Node]bool
}

// yamlToJSON converts a YAML stream of one document to JSON ("null" for an
// empty document). With record set, it returns the position of every node.
func yamlToJSON(data []byte, record bool) ([]byte, []yamlMark, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return []byte("null"), nil, nil
		}
		return nil, nil, yamlError(data, err)
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, yamlError(data, err)
		}
		if !emptyDocument(&next) {
			return nil, nil, &DecodeError{Line: next.Line, Column: next.Column, Msg: "malformed YAML: more than one document", offset: -1}
		}
	}
	c := &yamlConverter{max: max(yamlExpansion*len(data), minYAMLExpansion), record: record}
	c.out = make([]byte, 0, len(data)+len(data)/4)
	root := &doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return []byte("null"), nil, nil
		}
		root = doc.Content[0]
	}
	if err := c.node(root); err != nil {
		return nil, nil, err
	}
	return c.out, c.marks, nil
}

// emptyDocument reports whether a document holds nothing but null.
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	return n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) == 0 && isNull(n.Value)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlError turns an error of the YAML parser into a *DecodeError. The
// parser reports a line but no column, and nothing for invalid UTF-8,
// which is located here.
func yamlError(data []byte, err error) *DecodeError {
	msg := err.Error()
	de := &DecodeError{offset: -1}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		de.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else if strings.Contains(msg, "UTF-8") {
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				de.Line, de.Column = position(data, int64(i))
				msg = "invalid UTF-8"
				break
			}
			i += n
		}
	}
	de.Msg = "malformed YAML: " + strings.TrimPrefix(msg, "yaml: ")
	return de
}

func (c *yamlConverter) fail(n *yaml.Node, msg string) error {
	return &DecodeError{Line: n.Line, Column: n.Column, Msg: msg, offset: -1}
}

func (c *yamlConverter) mark(n *yaml.Node) {
	if c.record {
		c.marks = append(c.marks, yamlMark{off: int64(len(c.out)), line: n.Line, column: n.Column})
	}
}

func (c *yamlConverter) node(n *yaml.Node) error {
	if len(c.out) > c.max {
		return c.fail(n, "malformed YAML: its aliases expand it beyond "+strconv.Itoa(c.max)+" bytes")
	}
	if n.Kind != yaml.AliasNode {
		c.mark(n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!map" {
			return c.fail(n, "unsupported YAML tag "+n.Tag)
		}
		c.out = append(c.out, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				c.out = append(c.out, ',')
			}
			if err := c.key(n.Content[i]); err != nil {
				return err
			}
			c.out = append(c.out, ':')
			if err := c.node(n.Content[i+1]); err != nil {
				return err
			}
		}
		c.out = append(c.out, '}')
	case yaml.SequenceNode:
		if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!seq" {
			return c.fail(n, "unsupported YAML tag "+n.Tag)
		}
		c.out = append(c.out, '[')
		for i, e := range n.Content {
			if i > 0 {
				c.out = append(c.out, ',')
			}
			if err := c.node(e); err != nil {
				return err
			}
		}
		c.out = append(c.out, ']')
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.AliasNode:
		if c.expanding[n.Alias] {
			return c.fail(n, "malformed YAML: alias *"+n.Value+" refers to its own anchor")
		}
		if c.expanding == nil {
			c.expanding = map[*yaml.Node]bool{}
		}
		c.expanding[n.Alias] = true
		err := c.node(n.Alias)
		delete(c.expanding, n.Alias)
		return err
	default:
		return c.fail(n, "malformed YAML: unexpected node")
	}
	return nil
}

// key writes a mapping key as a JSON name: a scalar's text as written.
func (c *yamlConverter) key(n *yaml.Node) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	c.mark(n)
	if n.Kind != yaml.ScalarNode {
		return c.fail(n, "malformed YAML: a mapping key must be a scalar")
	}
	if n.Tag == "!!merge" && n.Style&yaml.TaggedStyle == 0 {
		return c.fail(n, "malformed YAML: merge keys (<<) are not YAML 1.2; write the entries out")
	}
	return c.quote(n, n.Value)
}

func (c *yamlConverter) quote(n *yaml.Node, s string) error {
	out, err := jsontext.AppendQuote(c.out, s)
	if err != nil {
		return c.fail(n, "invalid UTF-8 in a string")
	}
	c.out = out
	return nil
}

const quotedStyles = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle

func (c *yamlConverter) scalar(n *yaml.Node) error {
	kind, text := "str", n.Value
	if n.Style&quotedStyles == 0 {
		kind, text = resolveYAML12(n.Value)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case "!!str":
			kind, text = "str", n.Value
		case "!!null", "!!bool", "!!int", "!!float":
			k, t := resolveYAML12(n.Value)
			want := n.Tag[2:]
			if k == "number" && (want == "int" || want == "float") {
				k = want
			}
			if k != want {
				return c.fail(n, strconv.Quote(n.Value)+" is not a YAML 1.2 "+want)
			}
			kind, text = k, t
		default:
			return c.fail(n, "unsupported YAML tag "+n.Tag)
		}
	}
	switch kind {
	case "str":
		return c.quote(n, text)
	case "unwritable":
		return c.fail(n, strconv.Quote(n.Value)+" is a number in YAML 1.2 but not one JSON can write, and YAML 1.1 reads it otherwise: "+
			"write a plain decimal number, or put it in quotes for a string")
	}
	c.out = append(c.out, text...)
	return nil
}

func isNull(s string) bool {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

var (
	yamlNumber = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^0o[0-7]+$|^0x[0-9a-fA-F]+$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$`)
	jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)
)

// resolveYAML12 resolves a plain scalar by the YAML 1.2 core schema. It
// returns its kind ("null", "bool", "number" or "str") and its JSON text
// (the string itself for "str"). Numbers are kept as written, so a
// reader of the JSON sees what the author wrote; the forms JSON cannot
// write as they are (0o17, 0x1F, 0755, +1, .5, 1., .inf), which YAML 1.1
// readers also read otherwise, are "unwritable" and refused.
func resolveYAML12(s string) (kind, text string) {
	switch {
	case isNull(s):
		return "null", "null"
	case s == "true" || s == "True" || s == "TRUE":
		return "bool", "true"
	case s == "false" || s == "False" || s == "FALSE":
		return "bool", "false"
	case jsonNumber.MatchString(s):
		return "number", s
	case yamlNumber.MatchString(s):
		return "unwritable", s
	}
	return "str", s
}
