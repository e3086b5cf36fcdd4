package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// Status codes of the seed API beyond net/http's.
const (
	// StatusCreateProductError: the product could not be stored (a store
	// or internal failure, not bad input).
	StatusCreateProductError = 623
	// StatusDeleteProductError: the product could not be deleted; the
	// details say why (it is deployed, or the store failed).
	StatusDeleteProductError = 624
)

// Messages of the seed API's error bodies; clients match them.
const (
	MsgInvalidProductArgs = "Invalid ProductArgs"
	MsgInvalidProduct     = "Invalid ProductName or StackDeps"
	MsgCreateProductError = "Create Product Error"
	MsgDeleteProductError = "Delete Product Error"
)

// Messages of the other error bodies.
const (
	MsgInvalidBody      = "Invalid request body"
	MsgInvalidRequest   = "Invalid request"
	MsgUnauthorized     = "Unauthorized"
	MsgForbidden        = "Forbidden"
	MsgNotFound         = "Not found"
	MsgMethodNotAllowed = "Method not allowed"
	MsgConflict         = "Conflict"
	MsgTooLarge         = "Request body too large"
	MsgInternal         = "Internal error"
	MsgNotImplemented   = "Not implemented"
	MsgTooManyRequests  = "Too many requests"
	MsgUnavailable      = "Service unavailable"
)

// Detail types. The first six are validate's field error types.
const (
	TypeRequired        = string(validate.Required)
	TypeInvalid         = string(validate.Invalid)
	TypeDuplicate       = string(validate.Duplicate)
	TypeNotSupported    = string(validate.NotSupported)
	TypeNotFound        = string(validate.NotFound)
	TypeTooLong         = string(validate.TooLong)
	TypeTooMany         = string(validate.TooMany)
	TypeNoRoute         = "NoRoute"
	TypeInUse           = "InUse"
	TypeConflict        = "Conflict"
	TypeBusy            = "Busy"
	TypeInterrupted     = "Interrupted"
	TypeInactive        = "Inactive"
	TypeUnauthenticated = "Unauthenticated"
	TypeDenied          = "Denied"
	TypeInternal        = "Internal"
	TypeUnavailable     = "Unavailable"
)

// Error is the body of every error response:
//
//	{"message": "Invalid ProductName or StackDeps", "code": "400",
//	 "details": [{"field": "stack_deps[0][0].stack_name", "type": "Invalid", "detail": "..."}],
//	 "request_id": "req-..."}
//
// and the error Client methods return for one.
type Error struct {
	// Status is the HTTP status code; Code is the same as a string.
	Status    int      `json:"-"`
	Message   string   `json:"message"`
	Code      string   `json:"code"`
	Details   []Detail `json:"details,omitempty"`
	RequestID string   `json:"request_id,omitempty"`

	cause error // logged, never sent
}

// Detail is one problem of a request: the field it concerns (a JSON path
// of the body, or a query parameter), its kind and what is wrong.
type Detail struct {
	Field  string `json:"field,omitempty"`
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	b.WriteByte(' ')
	b.WriteString(e.Message)
	for i, d := range e.Details {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if d.Field != "" {
			b.WriteString(d.Field)
			b.WriteString(": ")
		}
		b.WriteString(d.Detail)
	}
	if e.RequestID != "" {
		b.WriteString(" (request ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the cause, when the server built the error.
func (e *Error) Unwrap() error { return e.cause }

func newError(status int, msg string, details ...Detail) *Error {
	return &Error{Status: status, Message: msg, Code: strconv.Itoa(status), Details: details}
}

func (e *Error) withCause(err error) *Error {
	e.cause = err
	return e
}

func notFound(kind, key string) *Error {
	return newError(http.StatusNotFound, MsgNotFound, Detail{Type: TypeNotFound, Detail: fmt.Sprintf("no %s %q", kind, key)})
}

func invalid(field, typ, detail string) *Error {
	return newError(http.StatusBadRequest, MsgInvalidRequest, Detail{Field: field, Type: typ, Detail: detail})
}

// MaxDetails bounds the details of an error response; the last one then
// says how many more problems there are.
const MaxDetails = 100

// fieldDetails turns validation problems into details, at most
// MaxDetails of them.
func fieldDetails(errs validate.ErrorList) []Detail {
	n := min(len(errs), MaxDetails)
	out := make([]Detail, n, n+1)
	for i, fe := range errs[:n] {
		out[i] = Detail{Field: fe.Field, Type: string(fe.Type), Detail: fe.Detail}
	}
	if more := len(errs) - n; more > 0 {
		out = append(out, Detail{Type: TypeTooMany, Detail: fmt.Sprintf("%d more problems are not listed", more)})
	}
	return out
}

// invalidDetails returns the details of an error matching
// validate.ErrInvalid or store.ErrInvalid, and whether it is one.
func invalidDetails(err error) ([]Detail, bool) {
	var ve *validate.Error
	if errors.As(err, &ve) && len(ve.Errors) > 0 {
		return fieldDetails(ve.Errors), true
	}
	var fe *validate.FieldError
	if errors.As(err, &fe) {
		return fieldDetails(validate.ErrorList{fe}), true
	}
	var ie *store.InvalidError
	if errors.As(err, &ie) {
		return []Detail{{Field: ie.Field, Type: TypeInvalid, Detail: ie.Detail}}, true
	}
	return nil, false
}

// decodeDetail describes a body that could not be decoded.
func decodeDetail(err error) Detail {
	var de *product.DecodeError
	if errors.As(err, &de) {
		msg := de.Msg
		if de.Line > 0 {
			msg = fmt.Sprintf("line %d, column %d: %s", de.Line, de.Column, msg)
		}
		return Detail{Field: de.Field, Type: TypeInvalid, Detail: msg}
	}
	return Detail{Type: TypeInvalid, Detail: "malformed JSON"}
}

// toError maps an error of the store, the executor or the authorizer
// onto a response. Errors it does not know are internal: their text is
// logged, never sent.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return newError(http.StatusUnauthorized, MsgUnauthorized, Detail{Type: TypeUnauthenticated, Detail: strings.TrimPrefix(err.Error(), auth.ErrUnauthenticated.Error()+": ")})
	case errors.Is(err, auth.ErrDenied):
		return newError(http.StatusForbidden, MsgForbidden, Detail{Type: TypeDenied, Detail: err.Error()})
	case errors.Is(err, product.ErrInvalidArgs):
		return newError(http.StatusBadRequest, MsgInvalidBody, decodeDetail(err))
	case errors.Is(err, validate.ErrInvalid), errors.Is(err, store.ErrInvalid):
		d, _ := invalidDetails(err)
		return newError(http.StatusBadRequest, MsgInvalidRequest, d...)
	case errors.Is(err, deploy.ErrInvalidRequest):
		msg := err.Error()
		if i := strings.Index(msg, deploy.ErrInvalidRequest.Error()+": "); i >= 0 {
			msg = msg[:i] + msg[i+len(deploy.ErrInvalidRequest.Error())+2:]
		}
		return newError(http.StatusBadRequest, MsgInvalidRequest, Detail{Type: TypeInvalid, Detail: msg})
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, MsgNotFound, Detail{Type: TypeNotFound, Detail: err.Error()})
	case errors.Is(err, deploy.ErrVersionInactive):
		return newError(http.StatusConflict, MsgConflict, Detail{Field: "product_version_id", Type: TypeInactive, Detail: err.Error()})
	case errors.Is(err, deploy.ErrBusy):
		return newError(http.StatusConflict, MsgConflict, Detail{Type: TypeBusy,
			Detail: "another operation is in progress on the deployment; retry when it has ended"})
	case errors.Is(err, deploy.ErrInterrupted):
		return newError(http.StatusConflict, MsgConflict, Detail{Type: TypeInterrupted,
			Detail: "the deployment has an interrupted operation, which a server resumes once its lease has expired; retry when it has ended"})
	case errors.Is(err, store.ErrConflict):
		return newError(http.StatusConflict, MsgConflict, Detail{Type: TypeConflict,
			Detail: "the record changed since it was read; read it again and retry"})
	case errors.Is(err, store.ErrAlreadyExists):
		return newError(http.StatusConflict, MsgConflict, Detail{Type: TypeDuplicate, Detail: err.Error()})
	case errors.Is(err, store.ErrInUse):
		return newError(http.StatusConflict, MsgConflict, Detail{Type: TypeInUse, Detail: err.Error()})
	}
	return newError(http.StatusInternalServerError, MsgInternal).withCause(err)
}

// clientGone reports whether err only says that the client went away.
func clientGone(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
