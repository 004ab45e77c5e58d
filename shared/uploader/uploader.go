// Package uploader puts a finished backup's file at the storage targets
// the job names (R2, B2) and says which copies it made: the job side of
// "copies that are proven". The object key is API.md's layout
// (backup.ObjectKey), the upload streams and carries the file's SHA-256
// (shared/objstore), and the path recorded is <target>://<bucket>/<key>.
// The targets' buckets come from GET /v1/storage-targets (the caller reads
// them), the credentials from the job's own environment
// (objstore.CredentialsFor); the API never holds one. `backupwatch run
// --upload` and `backupwatch upload` use it (cmd/backupwatch, upload.go).
package uploader

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/objstore"
)

// Copy is the outcome of one upload: the path to record, or why not.
type Copy struct {
	Target backup.Location
	Path   string // <target>://<bucket>/<key>; "" when Err is set
	Err    error
}

// Opener opens a target's bucket (objstore.Open by default).
type Opener func(ctx context.Context, target backup.Location, loc backup.S3Location) (*objstore.Store, error)

// Upload uploads file, which must hold b's bytes (b.SizeBytes, b.Checksum),
// to each of to, one after the other, and returns one Copy per target in
// to's order. A target that is unknown, has no s3 location or fails does
// not stop the others.
func Upload(ctx context.Context, targets []backup.StorageTarget, to []backup.Location, b backup.Backup, tenantSlug, file string, open Opener) []Copy {
	if open == nil {
		open = objstore.Open
	}
	out := make([]Copy, 0, len(to))
	for _, name := range to {
		c := Copy{Target: name}
		c.Path, c.Err = uploadOne(ctx, targets, name, b, tenantSlug, file, open)
		out = append(out, c)
	}
	return out
}

func uploadOne(ctx context.Context, targets []backup.StorageTarget, name backup.Location, b backup.Backup, tenantSlug, file string, open Opener) (string, error) {
	var loc *backup.S3Location
	for _, t := range targets {
		if t.Name == name {
			loc = t.S3
		}
	}
	if loc == nil {
		return "", fmt.Errorf("storage target %s has no s3 location: PUT /v1/storage-targets/%s with an \"s3\" object first", name, name)
	}
	if b.Checksum == nil || b.SizeBytes == nil {
		return "", errors.New("the backup has no size or checksum yet: report it COMPLETED first")
	}
	st, err := open(ctx, name, *loc)
	if err != nil {
		return "", err
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if fi.Size() != *b.SizeBytes {
		return "", fmt.Errorf("%s holds %d bytes, the backup %d: not this backup's file", file, fi.Size(), *b.SizeBytes)
	}
	key := backup.ObjectKey(loc.Prefix, b, tenantSlug)
	if err := st.Upload(ctx, key, f, *b.SizeBytes, *b.Checksum); err != nil {
		return "", err
	}
	return loc.Path(name, key), nil
}

// Failed returns the copies that failed.
func Failed(cs []Copy) []Copy {
	var out []Copy
	for _, c := range cs {
		if c.Err != nil {
			out = append(out, c)
		}
	}
	return out
}
