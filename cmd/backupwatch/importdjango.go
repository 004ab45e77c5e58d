package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/backupwatch/backupwatch/shared/djangoimport"
)

const importUsage = `usage: backupwatch import-django --from URL [--dry-run] [--tenant-table TABLE] [--allow-skips]

  --from URL            the Django app's PostgreSQL database (read only)
  --dry-run             say what would be imported, write nothing
  --tenant-table TABLE  the source's tenant table (id, name, slug): names for
                        the tenants created; without it they are named after their ids
  --allow-skips         exit 0 even if rows that break backupwatch's rules were skipped

Copies backups_backup, backups_restore_log and backups_alert into DATABASE_URL,
keeping ids, timestamps, statuses and alert states. Run it again at will: rows
already imported are left alone`

// importDjangoCmd imports the Django app's history (djangoimport): counts
// per table and the skipped rows are printed; skipped rows make it fail
// unless --allow-skips.
func importDjangoCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("import-django", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "")
	dry := fs.Bool("dry-run", false, "")
	tenantTable := fs.String("tenant-table", "", "")
	allowSkips := fs.Bool("allow-skips", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || strings.TrimSpace(*from) == "" {
		return errors.New(importUsage)
	}
	pool, err := openDatabase(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	plan, err := djangoimport.Run(ctx, pool, djangoimport.Options{From: *from, TenantTable: *tenantTable,
		DryRun: *dry, Now: time.Now()})
	if err != nil {
		return err
	}
	plan.Print(out, *dry)
	if n := len(plan.Skipped); n > 0 && !*allowSkips {
		return fmt.Errorf("%d rows were skipped (listed above); fix them in the source, or rerun with --allow-skips to accept", n)
	}
	return nil
}
