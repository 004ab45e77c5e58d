// Package validation carries the field-level reasons why a request was
// refused, from the domain packages that decide them to the HTTP layer that
// reports them in the contract's error shape.
package validation

import (
	"regexp"
	"strings"
	"sync"
)

// FieldError says what is wrong with one field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Errors is a list of field errors; a non-empty Errors is an error.
type Errors []FieldError

// Add records that field breaks a rule.
func (e *Errors) Add(field, message string) {
	*e = append(*e, FieldError{Field: field, Message: message})
}

// Has reports whether field already has an error, so that a later rule does
// not pile a second message onto a field that is already wrong.
func (e Errors) Has(field string) bool {
	for _, fe := range e {
		if fe.Field == field {
			return true
		}
	}
	return false
}

// Err returns e as an error, or nil when it is empty.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Error lists the fields and their messages.
func (e Errors) Error() string {
	parts := make([]string, len(e))
	for i, fe := range e {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// One returns an Errors holding a single field error.
func One(field, message string) Errors {
	return Errors{{Field: field, Message: message}}
}

// Pattern returns a regular expression compiled at its first use rather
// than at start-up. The validators' patterns, compiled in their packages'
// inits, took about 0.3 ms of every Lambda function's cold start
// (GODEBUG=inittrace=1: a bounded repeat such as {0,62} compiles to a
// long program; bench/REPORT.md, Cold start), and most invocations never
// validate a WAL name, a bucket or a slug.
func Pattern(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
