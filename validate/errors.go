package validate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalid matches every error of a decoded product that breaks the
// rules. Such errors are an *Error carrying the whole list of problems.
var ErrInvalid = errors.New("invalid product name or stack deps")

// ErrorType is the kind of a field problem.
type ErrorType string

// Error types, after apimachinery's field errors.
const (
	Required     ErrorType = "Required"     // a value is missing
	Invalid      ErrorType = "Invalid"      // a value breaks a rule
	Duplicate    ErrorType = "Duplicate"    // a value appears twice where it must be unique
	NotSupported ErrorType = "NotSupported" // a value is not one of the allowed ones
	NotFound     ErrorType = "NotFound"     // a reference names nothing that exists
	TooLong      ErrorType = "TooLong"      // a value is longer than allowed
	TooMany      ErrorType = "TooMany"      // a list has more entries than a limit allows
)

// String returns the phrase used in messages ("Invalid value").
func (t ErrorType) String() string {
	switch t {
	case Required:
		return "Required value"
	case Invalid:
		return "Invalid value"
	case Duplicate:
		return "Duplicate value"
	case NotSupported:
		return "Unsupported value"
	case NotFound:
		return "Not found"
	case TooLong:
		return "Too long"
	case TooMany:
		return "Too many"
	}
	return string(t)
}

// FieldError is one problem of one field.
type FieldError struct {
	// Field is the JSON path the user wrote, e.g.
	// "stack_deps[1][0].services[0].image.tag"; empty for the document
	// as a whole.
	Field string    `json:"field"`
	Type  ErrorType `json:"type"`
	// BadValue is the offending value (env values are redacted).
	BadValue any `json:"-"`
	// Detail says what the rule is.
	Detail string `json:"detail"`
}

// Error renders the problem as
// `stack_deps[1][0].services[0].image.tag: Invalid value: "": must not be empty`.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Type.String())
	switch e.Type {
	case Required, TooLong, TooMany:
	default:
		b.WriteString(": ")
		b.WriteString(quote(e.BadValue))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func quote(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 80 {
			cut := 77
			for cut > 0 && !utf8.RuneStart(v[cut]) {
				cut--
			}
			v = v[:cut] + "..."
		}
		return strconv.Quote(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// ErrorList is a list of field problems in document order.
type ErrorList []*FieldError

// Error is the error returned for a product that breaks the rules. It
// matches ErrInvalid and carries every problem found.
type Error struct {
	Errors ErrorList
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	switch len(e.Errors) {
	case 0:
	case 1:
		b.WriteString(": ")
		b.WriteString(e.Errors[0].Error())
	default:
		fmt.Fprintf(&b, ": %d problems: ", len(e.Errors))
		for i, fe := range e.Errors {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(fe.Error())
		}
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the field errors, so errors.As reaches a *FieldError.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		errs[i] = fe
	}
	return errs
}

// errorOrNil returns nil for an empty list.
func (l ErrorList) errorOrNil() error {
	if len(l) == 0 {
		return nil
	}
	return &Error{Errors: l}
}
