// Command backupwatch is the local entry point of the service:
//
//	backupwatch serve     serve the API on BACKUPWATCH_ADDR (default 127.0.0.1:3000)
//	backupwatch migrate   apply the schema migrations to DATABASE_URL
//	backupwatch admin-key create the first admin key of a deployment
//	backupwatch check     run the checks once against DATABASE_URL
//	backupwatch keys      list, create and revoke API keys in DATABASE_URL
//	backupwatch import-django  copy the Django app's history into DATABASE_URL
//
// and, for backup jobs (BACKUPWATCH_URL, BACKUPWATCH_API_KEY): run, report,
// verify, wal-archive, restore, flush and upload (shared/jobclient,
// shared/uploader).
//
// Without DATABASE_URL it starts its own PostgreSQL from the server binaries,
// keeping the data in BACKUPWATCH_DATA_DIR (default .local/pg); one serve at
// a time per data directory (a second one says so and exits).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/backupwatch/backupwatch/shared/jobclient"
)

const usage = `usage: backupwatch <command>

commands:
  serve     serve the API locally (BACKUPWATCH_ADDR, default 127.0.0.1:3000)
  migrate   apply the schema migrations (MIGRATE_DATABASE_URL or DATABASE_URL)
  admin-key make sure an admin key exists in DATABASE_URL: BACKUPWATCH_ADMIN_KEY,
            or a new one printed once (the first key of a deployment)
  check     run the checks once against DATABASE_URL and print the summary
            as JSON (exit 1 if the run failed, wholly or in part)
  keys      list | create --name N --role R [--tenant SLUG|ID] | revoke ID:
            API keys in DATABASE_URL, each change audited (via cli)
  import-django --from URL [--dry-run] [--tenant-table TABLE] [--allow-skips]:
            copy the Django app's backups, restores and alerts into
            DATABASE_URL (exit 1 if rows were skipped, unless --allow-skips)

` + jobsUsage

func main() {
	if len(os.Args) < 2 {
		_, _ = io.WriteString(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd := os.Args[1]; cmd {
	case "serve", "migrate", "admin-key", "check":
		// These take no arguments: asking one for help prints the usage
		// rather than starting it, and anything else given is refused.
		if len(os.Args) > 2 {
			if a := os.Args[2]; a == "-h" || a == "--help" || a == "help" {
				_, _ = io.WriteString(os.Stdout, usage)
				return
			}
			fmt.Fprintf(os.Stderr, "backupwatch: %s takes no arguments (its settings come from the environment), got %q\n\n%s", cmd, os.Args[2:], usage)
			os.Exit(2)
		}
	}
	switch os.Args[1] {
	case "run", "report", "verify", "wal-archive", "restore", "flush", "upload":
		// Signals go to the wrapped command (jobclient.Execute), not to
		// this context: the wrapper outlives its command to report it.
		stop()
		os.Exit(jobCommand(context.Background(), os.Args[1], os.Args[2:], jobclient.OSStdio()))
	case "serve":
		// A serve whose terminal closes (SIGHUP) or whose output's reader
		// goes away (`make run | head`: its next log line meets a broken
		// pipe) shuts down as on SIGTERM, stopping the PostgreSQL it
		// started; left to their default action, SIGHUP and SIGPIPE killed
		// it and left that running. SIGPIPE is ignored rather than caught:
		// a socket's broken pipe raises it too (a client gone, the database
		// down), and those must not end the serve; its output says EPIPE.
		signal.Ignore(syscall.SIGPIPE)
		sctx, sstop := signal.NotifyContext(ctx, syscall.SIGHUP)
		sctx, gone := context.WithCancel(sctx)
		err = serve(sctx, outputGone{w: os.Stdout, gone: gone})
		gone()
		sstop()
	case "migrate":
		err = migrateCmd(ctx, os.Stdout)
	case "admin-key":
		err = adminKeyCmd(ctx, os.Stdout)
	case "check":
		err = checkCmd(ctx, os.Stdout)
	case "keys":
		err = keysCmd(ctx, os.Args[2:], os.Stdout)
	case "import-django":
		err = importDjangoCmd(ctx, os.Args[2:], os.Stdout)
	case "help", "-h", "--help":
		_, _ = io.WriteString(os.Stdout, usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "backupwatch: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backupwatch:", err)
		os.Exit(1)
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// outputGone is serve's output: a write that finds its reader gone (EPIPE)
// calls gone, which ends the serve.
type outputGone struct {
	w    io.Writer
	gone context.CancelFunc
}

func (o outputGone) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		o.gone()
	}
	return n, err
}
