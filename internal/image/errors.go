package image

import (
	"errors"
	"fmt"
)

// Sentinel error kinds; the daemon maps them to HTTP 404, 409 and 400.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid argument")
)

// kindError keeps Docker's exact wording in Error() while staying
// errors.Is-able against one of the sentinels.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }

func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func notFoundImage(ref string) error {
	// Capitalised because clients match Docker's exact message.
	return &kindError{kind: ErrNotFound, err: errors.New("No such image: " + ref)}
}

func invalidf(format string, args ...any) error {
	return &kindError{kind: ErrInvalid, err: fmt.Errorf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &kindError{kind: ErrConflict, err: fmt.Errorf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &kindError{kind: ErrNotFound, err: fmt.Errorf(format, args...)}
}
