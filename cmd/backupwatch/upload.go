package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/uploader"
)

// exitUpload is the exit status of a job whose backup is recorded but one
// of whose copies could not be made (upload, and run --upload).
const exitUpload = 3

// errUpload says some copies failed; the command exits exitUpload.
var errUpload = errors.New("some copies were not made")

// targetList is a repeatable --to / --upload flag.
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

// uploadCmd is `backupwatch upload --backup ID --to r2|b2 [--to ...] --file
// PATH`: it adds copies of a COMPLETED or VERIFIED backup at the storage
// targets named (a copy whose upload failed earlier, or a new target),
// checking the file against the backup's size and SHA-256 as it streams,
// and records each path with a PATCH that sets a path still null. It
// speaks to the API at BACKUPWATCH_URL with BACKUPWATCH_API_KEY and takes
// each target's credentials from BACKUPWATCH_S3_<NAME>_ACCESS_KEY_ID and
// _SECRET_ACCESS_KEY. It prints one line per copy; exit 3 when any failed.
func uploadCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	fs.SetOutput(errOut)
	id := fs.String("backup", "", "the backup's id")
	file := fs.String("file", "", "the backup's file")
	var to targetList
	fs.Var(&to, "to", "a storage target to copy to: r2 or b2 (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bid, err := uuid.Parse(*id)
	switch {
	case err != nil:
		return fmt.Errorf("--backup: want the backup's id (a UUID)")
	case *file == "":
		return fmt.Errorf("--file: want the backup's file")
	case len(to) == 0:
		return fmt.Errorf("--to: name at least one storage target (r2 or b2)")
	}
	api, err := apiClient()
	if err != nil {
		return err
	}
	b, err := api.GetBackup(ctx, bid)
	if err != nil {
		return err
	}
	if !b.Status.Usable() {
		return fmt.Errorf("backup %s is %s: only a COMPLETED or VERIFIED backup gets copies", bid, b.Status)
	}
	for _, t := range to {
		if p := b.Path(t); p != nil {
			return fmt.Errorf("backup %s already has its %s copy at %s", bid, t, *p)
		}
	}
	targets, err := api.StorageTargets(ctx)
	if err != nil {
		return err
	}
	return recordCopies(ctx, api, bid, uploader.Upload(ctx, targets, to, b.Backup, b.TenantSlug(), *file, nil), out, errOut)
}

// recordCopies records each copy made and says, one line each, which were
// made and which failed; errUpload when any failed.
func recordCopies(ctx context.Context, api *uploader.Client, id uuid.UUID, copies []uploader.Copy, out, errOut io.Writer) error {
	failed := false
	for _, c := range copies {
		if c.Err == nil {
			if _, err := api.AddCopy(ctx, id, c.Target, c.Path); err != nil {
				c.Err = fmt.Errorf("uploaded to %s but not recorded: %w", c.Path, err)
			}
		}
		if c.Err != nil {
			failed = true
			fmt.Fprintf(errOut, "backupwatch: copy to %s failed: %v\n", c.Target, c.Err)
			continue
		}
		fmt.Fprintf(out, "copied to %s: %s\n", c.Target, c.Path)
	}
	if failed {
		return errUpload
	}
	return nil
}

// apiClient is the job's API client: BACKUPWATCH_URL and BACKUPWATCH_API_KEY.
func apiClient() (*uploader.Client, error) {
	url, key := strings.TrimSpace(os.Getenv("BACKUPWATCH_URL")), strings.TrimSpace(os.Getenv("BACKUPWATCH_API_KEY"))
	if url == "" || key == "" {
		return nil, errors.New("set BACKUPWATCH_URL (the API, e.g. http://127.0.0.1:3000) and BACKUPWATCH_API_KEY (a job key)")
	}
	return &uploader.Client{URL: url, Key: key}, nil
}
