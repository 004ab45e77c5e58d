// Package uploader puts a finished backup's file at the storage targets
// the job names (R2, B2) and says which copies it made: the job side of
// "copies that are proven". The object key is API.md's layout
// (backup.ObjectKey), the upload streams and carries the file's SHA-256
// (shared/objstore) and the backup's id in the object's metadata, an
// object of another backup at the key is never overwritten (mayWrite),
// and the path recorded is <target>://<bucket>/<key>.
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

	"github.com/google/uuid"

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
	if err := mayWrite(ctx, st, loc.Path(name, key), key, b); err != nil {
		return "", err
	}
	if err := st.UploadMeta(ctx, key, f, *b.SizeBytes, *b.Checksum, owner(b)); err != nil {
		return "", err
	}
	return loc.Path(name, key), nil
}

// The metadata naming the backup an object is a copy of.
const (
	metaBackupID = "backupwatch-backup-id"
	metaJobID    = "backupwatch-backup-job-id"
)

// owner is the metadata that names b on its copies: its id and its
// backup_job_id, each when known (a run whose start is still queued knows
// only its job id).
func owner(b backup.Backup) map[string]string {
	m := map[string]string{}
	if b.ID != uuid.Nil {
		m[metaBackupID] = b.ID.String()
	}
	if b.BackupJobID != nil {
		m[metaJobID] = b.BackupJobID.String()
	}
	return m
}

// mayWrite says whether b's copy may be written at key (path is how the
// catalogue names it): when no object is there, when the one there holds
// the same bytes (its sha256), or when it is b's own (a retried upload).
// Any other object is another backup's copy (the same filename on the
// same day: the key is API.md's layout and holds nothing else to tell
// them apart), which is never overwritten: its backup would point at
// bytes that are not its own, and the verifier would call it corrupt.
//
// HEAD before PUT, not a conditional PUT (If-None-Match: *): that would
// refuse a retry's own object too, and S3-compatible providers differ in
// honouring it; HeadObject and user metadata work alike on R2, B2 and
// versitygw. Two uploads racing to one key between HEAD and PUT can still
// meet; one job host's runs of one backup series do not race.
func mayWrite(ctx context.Context, st *objstore.Store, path, key string, b backup.Backup) error {
	size, meta, err := st.Head(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if meta["sha256"] == *b.Checksum && size == *b.SizeBytes {
		return nil
	}
	mine := owner(b)
	for _, k := range []string{metaBackupID, metaJobID} {
		if mine[k] != "" && meta[k] == mine[k] {
			return nil
		}
	}
	other := "an object that names no backup"
	switch {
	case meta[metaBackupID] != "":
		other = "the copy of backup " + meta[metaBackupID]
	case meta[metaJobID] != "":
		other = "the copy of the backup of job " + meta[metaJobID]
	}
	return fmt.Errorf("%s already holds %s (%d bytes, other contents): not overwriting another backup's copy; give each backup's file its own name (e.g. with the date and time)", path, other, size)
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
