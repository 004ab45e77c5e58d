package jobclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
)

// WALSpec is a `backupwatch wal-archive %p %f` call from archive_command.
type WALSpec struct {
	Path, Name string // %p (relative to the data directory) and %f
	// Dir is the archive directory to copy into, or Copy a shell command
	// that does the copy, with %p, %f and %% replaced as PostgreSQL does.
	Dir, Copy string
	// Locations record where the copy went ("local", "r2", "b2"; %f is
	// replaced); with Dir, local defaults to Dir/%f.
	Locations map[string]string
	Cluster   string // metadata.cluster, when several clusters archive
}

// walNamespace derives a segment's backup_job_id from its cluster, name
// and checksum, so that archiving the same file twice reports one backup.
var walNamespace = uuid.MustParse("6b2f0c55-5a4e-4f0e-9d55-77a1ad0c1b6e")

// WALArchive copies the segment, then reports it as a COMPLETED
// WAL_ARCHIVE backup. Only a failed copy is an error (PostgreSQL then
// retries the segment); the report never blocks archiving: one attempt,
// then the spool.
func (r *Reporter) WALArchive(ctx context.Context, spec WALSpec, std Stdio) error {
	started := time.Now()
	var d Digest
	var err error
	if spec.Dir != "" {
		d, err = copyInto(spec.Path, filepath.Join(spec.Dir, spec.Name))
	} else {
		d, err = runCopy(spec, std)
	}
	if err != nil {
		return err
	}
	locs := map[string]string{}
	if spec.Dir != "" {
		abs, _ := filepath.Abs(filepath.Join(spec.Dir, spec.Name))
		locs["local"] = abs
	}
	for loc, p := range spec.Locations {
		locs[loc] = strings.ReplaceAll(p, "%f", spec.Name)
	}
	meta := map[string]any{"segment": spec.Name, "host": hostname()}
	if spec.Cluster != "" {
		meta["cluster"] = spec.Cluster
	}
	jobID := uuid.NewSHA1(walNamespace, []byte(spec.Cluster+"/"+spec.Name+"/"+d.Checksum))
	body := map[string]any{
		"backup_type": "WAL_ARCHIVE", "filename": spec.Name, "status": "COMPLETED",
		"size_bytes": d.Size, "checksum": d.Checksum, "backup_job_id": jobID.String(),
		"backup_duration_seconds": seconds(time.Since(started)), "metadata": meta,
	}
	for loc, p := range locs {
		body[loc+"_path"] = p
	}
	r.SendFor(ctx, &Entry{Method: "POST", Path: "/v1/backups", Key: "bw-wal-" + jobID.String(),
		Body: mustJSON(body), What: "WAL_ARCHIVE " + spec.Name}, 0)
	return nil
}

// copyInto copies src to dst through a temporary file, synced and renamed,
// hashing as it goes. A dst that exists already is fine when it is the
// same file (a retry after a crash), else an error: an archive never
// overwrites a different segment.
func copyInto(src, dst string) (Digest, error) {
	in, err := os.Open(src)
	if err != nil {
		return Digest{}, fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	if _, err := os.Stat(dst); err == nil {
		have, err := HashFile(dst)
		if err != nil {
			return Digest{}, err
		}
		want, err := HashFile(src)
		if err != nil {
			return Digest{}, err
		}
		if have != want {
			return Digest{}, fmt.Errorf("%s already exists with other contents; not overwriting it", dst)
		}
		return want, nil
	}
	tmp := dst + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return Digest{}, fmt.Errorf("copying %s: %w", src, err)
	}
	h := NewHasher()
	_, err = io.CopyBuffer(io.MultiWriter(out, h), in, make([]byte, hashBuffer))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return Digest{}, fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	_ = syncDir(filepath.Dir(dst))
	return h.Digest(), nil
}

// runCopy runs the --copy command through sh, as archive_command would,
// then hashes the segment it copied.
func runCopy(spec WALSpec, std Stdio) (Digest, error) {
	cmdline := strings.NewReplacer("%p", spec.Path, "%f", spec.Name, "%%", "%").Replace(spec.Copy)
	cmd := exec.Command("/bin/sh", "-c", cmdline)
	cmd.Env = childEnv()
	var errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = std.Err, io.MultiWriter(std.Err, &errBuf)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Digest{}, fmt.Errorf("copy command %q exited with status %d", cmdline, ee.ExitCode())
		}
		return Digest{}, fmt.Errorf("copy command %q: %w", cmdline, err)
	}
	return HashFile(spec.Path)
}
