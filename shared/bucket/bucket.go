// Package bucket says what reading a storage target's bucket means, apart
// from any client: an object, a missing one, and the two reads the copy
// verifier makes. The S3 client (shared/objstore) implements Reader; the
// verifier and the API depend on this package alone, so that the functions
// that never reach a bucket do not link the S3 SDK.
package bucket

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned for an object that does not exist.
var ErrNotFound = errors.New("object not found")

// Object is one listed object.
type Object struct {
	Key  string
	Size int64
}

// Reader reads a bucket.
type Reader interface {
	// Get opens the object at key; ErrNotFound (wrapped) when there is none.
	Get(ctx context.Context, key string) (body io.ReadCloser, size int64, err error)
	// List calls fn with every object under prefix.
	List(ctx context.Context, prefix string, fn func(Object) error) error
}
