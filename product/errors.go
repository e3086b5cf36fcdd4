package product

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidArgs matches every error of a document that cannot be decoded:
// malformed JSON or YAML, a value of the wrong type or an unknown field.
var ErrInvalidArgs = errors.New("invalid product args")

// DecodeError says where and why a document could not be decoded. It
// matches ErrInvalidArgs.
type DecodeError struct {
	// Field is the JSON path of the offending value, e.g.
	// "stack_deps[0][1].services[0].instances"; empty when the document as
	// a whole is malformed.
	Field string
	// Line and Column locate the problem in JSON input (1-based); zero
	// when unknown (YAML input reports the line in Msg where it can).
	Line, Column int
	// Msg says what is wrong.
	Msg string
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
