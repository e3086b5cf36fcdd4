package product

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidArgs matches every error of a document that cannot be decoded:
// malformed JSON or YAML, a value of the wrong type, an unknown field, a
// field given twice or invalid UTF-8.
var ErrInvalidArgs = errors.New("invalid product args")

// DecodeError says where and why a document could not be decoded. It
// matches ErrInvalidArgs.
type DecodeError struct {
	// Field is the path of the offending value as the document wrote
	// it, e.g. "stack_deps[0][1].services[0].access_point.backend_ports[0]"
	// or "stack_deps[0][0].services[1].envs.PORT"; empty when the document
	// as a whole is malformed.
	Field string
	// Line and Column locate the problem in the document, JSON or YAML
	// (1-based, the column in characters); zero when unknown. The YAML
	// parser's own syntax errors give a line without a column.
	Line, Column int
	// Msg says what is wrong. It never shows an env value.
	Msg string

	offset int64 // in the JSON read; -1 when unknown
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidArgs.Error())
	b.WriteString(": ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d, column %d: ", e.Line, e.Column)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports whether target is ErrInvalidArgs.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalidArgs }
