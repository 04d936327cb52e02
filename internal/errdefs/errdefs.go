// Package errdefs classifies berth's errors once, so that the API layer can
// map each class to Docker's HTTP status code in exactly one place.
package errdefs

import (
	"errors"
	"fmt"
)

// Class is the kind of failure an error represents.
type Class int

// The classes the Engine API distinguishes.
const (
	Unknown Class = iota
	NotFound
	Conflict
	InvalidParameter
	Forbidden
	NotModified
	Unavailable
	NotImplemented
)

type classified struct {
	class Class
	err   error
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

func wrap(class Class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: class, err: err}
}

// NotFoundf returns a not-found error (404).
func NotFoundf(format string, a ...any) error { return wrap(NotFound, fmt.Errorf(format, a...)) }

// Conflictf returns a conflict error (409).
func Conflictf(format string, a ...any) error { return wrap(Conflict, fmt.Errorf(format, a...)) }

// Invalidf returns an invalid-parameter error (400).
func Invalidf(format string, a ...any) error { return wrap(InvalidParameter, fmt.Errorf(format, a...)) }

// Forbiddenf returns a forbidden error (403).
func Forbiddenf(format string, a ...any) error { return wrap(Forbidden, fmt.Errorf(format, a...)) }

// NotModifiedf returns a not-modified answer (304).
func NotModifiedf(format string, a ...any) error { return wrap(NotModified, fmt.Errorf(format, a...)) }

// NotImplementedf returns a not-implemented error (501).
func NotImplementedf(format string, a ...any) error {
	return wrap(NotImplemented, fmt.Errorf(format, a...))
}

// AsNotFound, AsConflict, AsInvalid and AsForbidden classify an existing error, keeping its chain.
func AsNotFound(err error) error  { return wrap(NotFound, err) }
func AsConflict(err error) error  { return wrap(Conflict, err) }
func AsInvalid(err error) error   { return wrap(InvalidParameter, err) }
func AsForbidden(err error) error { return wrap(Forbidden, err) }

// ClassOf returns the outermost class found in err's chain.
func ClassOf(err error) Class {
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	return Unknown
}

// Is reports whether err belongs to class.
func Is(err error, class Class) bool { return ClassOf(err) == class }
