package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/jobclient"
	"github.com/backupwatch/backupwatch/shared/uploader"
)

// exitUpload is the exit status of a job whose backup is recorded but one
// of whose copies could not be made (upload, and run --upload).
const exitUpload = 3

// targetList is a repeatable --to / --upload flag: r2 or b2, once each.
type targetList []backup.Location

func (l *targetList) String() string {
	s := make([]string, len(*l))
	for i, t := range *l {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

func (l *targetList) Set(v string) error {
	t := backup.Location(v)
	if t != backup.R2 && t != backup.B2 {
		return fmt.Errorf("%q is not an S3 storage target: want r2 or b2", v)
	}
	for _, have := range *l {
		if have == t {
			return fmt.Errorf("%s is named twice", v)
		}
	}
	*l = append(*l, t)
	return nil
}

// storedBackup is a backup as GET /v1/backups/{id} answers it.
type storedBackup struct {
	backup.Backup
	Tenant *struct {
		Slug *string `json:"slug"`
	} `json:"tenant"`
}

func (b storedBackup) tenantSlug() string {
	if b.Tenant == nil || b.Tenant.Slug == nil {
		return ""
	}
	return *b.Tenant.Slug
}

// storageTargets reads GET /v1/storage-targets (job keys may).
func storageTargets(ctx context.Context, c *jobclient.Client) ([]backup.StorageTarget, error) {
	var page struct {
		Items []backup.StorageTarget `json:"items"`
	}
	return page.Items, c.JSON(ctx, "GET", "/v1/storage-targets", nil, &page)
}

// uploadCmd is `backupwatch upload --backup ID --to r2|b2 [--to ...] --file
// PATH`: it adds copies of a COMPLETED or VERIFIED backup at the storage
// targets named (a copy whose upload failed earlier, or a new target),
// checking the file against the backup's size and SHA-256 as it streams,
// and records each path with a PATCH that sets a path still null (through
// the spool, like every report). Each target's credentials come from
// BACKUPWATCH_S3_<NAME>_ACCESS_KEY_ID and _SECRET_ACCESS_KEY. It prints one
// line per copy; exit 3 when any failed.
func uploadCmd(ctx context.Context, rep *jobclient.Reporter, args []string, std jobclient.Stdio) int {
	fs := newFlags("upload")
	id := fs.String("backup", "", "")
	file := fs.String("file", "", "")
	var to targetList
	fs.Var(&to, "to", "")
	if err := fs.Parse(args); err != nil {
		return usageError(std, "upload", err)
	}
	bid, err := uuid.Parse(*id)
	switch {
	case err != nil:
		return usageError(std, "upload", fmt.Errorf("--backup: want the backup's id (a UUID)"))
	case *file == "":
		return usageError(std, "upload", fmt.Errorf("--file: want the backup's file"))
	case len(to) == 0:
		return usageError(std, "upload", fmt.Errorf("--to: name at least one storage target (r2 or b2)"))
	case fs.NArg() > 0:
		return usageError(std, "upload", fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	var b storedBackup
	if err := rep.Client.JSON(ctx, "GET", "/v1/backups/"+bid.String(), nil, &b); err != nil {
		fmt.Fprintf(std.Err, "backupwatch upload: %v\n", err)
		return 1
	}
	if !b.Status.Usable() {
		fmt.Fprintf(std.Err, "backupwatch upload: backup %s is %s: only a COMPLETED or VERIFIED backup gets copies\n", bid, b.Status)
		return 1
	}
	for _, t := range to {
		if p := b.Path(t); p != nil {
			fmt.Fprintf(std.Err, "backupwatch upload: backup %s already has its %s copy at %s\n", bid, t, *p)
			return 1
		}
	}
	targets, err := storageTargets(ctx, rep.Client)
	if err != nil {
		fmt.Fprintf(std.Err, "backupwatch upload: %v\n", err)
		return 1
	}
	failed := false
	for _, c := range uploader.Upload(ctx, targets, to, b.Backup, b.tenantSlug(), *file, nil) {
		if c.Err == nil {
			body, _ := json.Marshal(map[string]string{string(c.Target) + "_path": c.Path})
			res := rep.Send(ctx, &jobclient.Entry{Method: "PATCH", Path: "/v1/backups/" + bid.String(), Body: body,
				Key: "bw-copy-" + bid.String() + "-" + string(c.Target), What: fmt.Sprintf("the %s copy of backup %s", c.Target, bid)})
			if res.Outcome == jobclient.SetAside {
				c.Err = fmt.Errorf("uploaded to %s, but the API refused to record it: %v", c.Path, res.Err)
			}
		}
		if c.Err != nil {
			failed = true
			fmt.Fprintf(std.Err, "backupwatch upload: copy to %s failed: %v\n", c.Target, c.Err)
			continue
		}
		fmt.Fprintf(std.Out, "copied to %s: %s\n", c.Target, c.Path)
	}
	if failed {
		return exitUpload
	}
	return 0
}

func usageError(std jobclient.Stdio, name string, err error) int {
	fmt.Fprintf(std.Err, "backupwatch %s: %v\n", name, err)
	return exitUsage
}

// uploadStep is run --upload's work between hashing the file and reporting
// it COMPLETED: it uploads the file to each target in to and adds each copy
// made to what the report records. A copy that fails is said on stderr and
// left out, and *failed is set: the backup is still reported COMPLETED
// with the copies that were made, and the wrapper exits 3.
func uploadStep(rep *jobclient.Reporter, spec *jobclient.RunSpec, to []backup.Location, std jobclient.Stdio, failed *bool) jobclient.Step {
	return func(ctx context.Context, a *jobclient.Artifact) error {
		say := func(t backup.Location, err error) {
			*failed = true
			fmt.Fprintf(std.Err, "backupwatch: copy to %s failed: %v\n", t, err)
		}
		targets, err := storageTargets(ctx, rep.Client)
		if err != nil {
			for _, t := range to {
				say(t, fmt.Errorf("reading the storage targets: %w", err))
			}
			return nil
		}
		size, sum := a.Digest.Size, a.Digest.Checksum
		job := a.JobID
		b := backup.Backup{Type: backup.Type(spec.Type), Filename: a.Filename, CreatedAt: a.CreatedAt,
			SizeBytes: &size, Checksum: &sum, BackupJobID: &job}
		b.ID, _ = uuid.Parse(a.BackupID)
		for _, c := range uploader.Upload(ctx, targets, to, b, tenantSlug(ctx, rep.Client, spec.Tenant), a.Path, nil) {
			if c.Err != nil {
				say(c.Target, c.Err)
				continue
			}
			a.Locations[string(c.Target)] = c.Path
		}
		return nil
	}
}

// tenantSlug is the slug of the run's tenant, for the object key: the one
// given, or the one the API names for the id given ("_" in the key when
// there is none, and the id when it cannot be read).
func tenantSlug(ctx context.Context, c *jobclient.Client, t jobclient.TenantRef) string {
	if t == "" || t.ID() == "" {
		return string(t)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var tn struct {
		Slug string `json:"slug"`
	}
	if err := c.JSON(ctx, "GET", "/v1/tenants/"+t.ID(), nil, &tn); err != nil || tn.Slug == "" {
		return t.ID()
	}
	return tn.Slug
}
