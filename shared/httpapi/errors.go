package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// Error is a refusal in the contract's shape:
// {"error": {"code": ..., "message": ..., "details": [...]}}.
type Error struct {
	Status     int                     `json:"-"`
	Code       string                  `json:"code"`
	Message    string                  `json:"message"`
	Details    []validation.FieldError `json:"details,omitempty"`
	RetryAfter int                     `json:"-"` // seconds; sets Retry-After when > 0
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Constructors for the errors handlers raise themselves.
func badRequest(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, "bad_request", format, args...)
}

func malformed(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, "malformed_json", format, args...)
}

func unauthorized() *Error {
	return newError(http.StatusUnauthorized, "unauthorized", "a valid API key is required: send Authorization: Bearer <key>")
}

func forbidden(format string, args ...any) *Error {
	return newError(http.StatusForbidden, "forbidden", format, args...)
}

func notFound(what string) *Error {
	return newError(http.StatusNotFound, "not_found", "%s not found", what)
}

// maxDetails is how many field errors a 422 lists (API.md 1.1), so that a
// body of a hundred thousand unknown fields cannot make a huge answer.
const maxDetails = 50

func invalid(errs validation.Errors) *Error {
	msg := "the request breaks a rule"
	if len(errs) > 0 {
		msg = errs[0].Field + " " + errs[0].Message
		if len(errs) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(errs)-1)
		}
	}
	if len(errs) > maxDetails {
		msg += fmt.Sprintf("; details lists the first %d of %d", maxDetails, len(errs))
		errs = errs[:maxDetails]
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: msg, Details: errs}
}

func invalidField(field, message string) *Error { return invalid(validation.One(field, message)) }

// conflictMessages explains unique constraints in the API's words.
var conflictMessages = map[string]validation.FieldError{
	"backups_backup_backup_job_id_key": {Field: "backup_job_id", Message: "a backup with this backup_job_id already exists"},
	"tenants_slug_key":                 {Field: "slug", Message: "a tenant with this slug already exists"},
	"users_email_key":                  {Field: "email", Message: "a user with this email already exists"},
}

// errorFrom maps any error a handler returns to the contract's status and
// code. It is the only place that does: handlers return domain and store
// errors and let this decide.
func errorFrom(err error) *Error {
	var (
		ae   *Error
		ve   validation.Errors
		conf *store.ConflictError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return invalid(ve)
	case errors.As(err, &conf):
		e := newError(http.StatusConflict, "conflict", "already exists")
		if fe, ok := conflictMessages[conf.Constraint]; ok {
			e.Message = fe.Message
			e.Details = []validation.FieldError{fe}
		}
		return e
	case errors.Is(err, store.ErrNotFound):
		return notFound("object")
	case errors.Is(err, backup.ErrInvalidTransition), errors.Is(err, alert.ErrInvalidTransition):
		return newError(http.StatusConflict, "invalid_transition", "%s", err.Error())
	case errors.Is(err, backup.ErrFrozen):
		return newError(http.StatusConflict, "conflict", "%s", err.Error())
	case errors.Is(err, store.ErrConflict):
		// A concurrent change won (a serialization failure, a deadlock, a
		// row no longer in the state it was read in): the database's words
		// stay in the log (Server.fail), never in the answer.
		return newError(http.StatusConflict, "conflict", "the request conflicted with a concurrent change and wrote nothing; retry it")
	case store.IsUnavailable(err), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the database cannot be reached or did not answer in time; nothing was written, try again", RetryAfter: 2}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
}
