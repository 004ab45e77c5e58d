package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/jobclient"
)

// The job commands exit 2 on a usage or configuration error, before
// anything runs; otherwise with the wrapped command's status, 3 when a
// copy failed (exitUpload), 4 when the API refused to record the job
// (jobclient.ExitRefused).
const exitUsage = 2

const jobsUsage = `job commands (BACKUPWATCH_URL, BACKUPWATCH_API_KEY or BACKUPWATCH_API_KEY_FILE,
BACKUPWATCH_SPOOL; README "Backup jobs"):
  run --type TYPE --file PATH|- [--output PATH] [--tenant SLUG|ID] [--location local|r2|b2=URI]...
      [--upload r2|b2]... [--job-id UUID] [--meta KEY=VALUE]... [--wal-start-from DIR] -- COMMAND [ARGS...]
      (--upload: copy the file there, BACKUPWATCH_S3_<NAME>_ACCESS_KEY_ID/_SECRET_ACCESS_KEY; exit 3 when a copy failed;
      exit 4 when the API refused the report, kept aside for flush --retry-aside)
  upload --backup ID --to r2|b2 [--to ...] --file PATH: add copies of a COMPLETED backup (exit 3 when one failed,
      1 when none could be tried: the backup cannot take it, or has that copy already)
  report --type TYPE --file PATH --status COMPLETED|FAILED [--notes TEXT] [--duration 5m] [...as run]
  verify --backup ID --file PATH [--location local|r2|b2]
  wal-archive (--dir DIR | --copy 'cp %p /archive/%f' --location local=/archive/%f) [--cluster NAME] %p %f
  restore --backup ID --mode FULL|MERGE|PITR --reason TEXT [--target TIME] [--tenant SLUG|ID]...
      [--rows-from SQL [--rows-db URL]] -- COMMAND [ARGS...]
      (a restore the API refuses to record does not run: exit 4)
  flush [--retry-aside]
`

// jobCommand runs a job command and returns the process's exit status.
func jobCommand(ctx context.Context, name string, args []string, std jobclient.Stdio) int {
	// Signals end the job commands as usual (flush, verify, a report),
	// except while run and restore have a command running and then report
	// its outcome: the command gets them (jobclient.Execute forwards
	// them), and the report is not cut off (jobclient.HoldSignals).
	fail := func(err error) int {
		fmt.Fprintf(std.Err, "backupwatch %s: %v\n", name, err)
		return exitUsage
	}
	cfg, err := jobclient.FromEnv()
	if err != nil {
		return fail(err)
	}
	if name == "wal-archive" {
		cfg.RetryFor = 0 // never hold archiving up
	}
	rep, err := jobclient.NewReporter(cfg, std.Err)
	if err != nil && name == "wal-archive" {
		// Archiving must go on: the report is delivered at once, or LOST
		// (said on stderr, which PostgreSQL logs).
		fmt.Fprintf(std.Err, "backupwatch wal-archive: %v; reporting without a spool\n", err)
		rep, err = &jobclient.Reporter{Client: jobclient.NewClient(cfg), Spool: jobclient.Unusable(cfg.Spool, err), Log: std.Err}, nil
	}
	if err != nil {
		return fail(err)
	}
	rep.NoWait = name == "wal-archive"
	switch name {
	case "run":
		spec, uploads, err := parseRun(args)
		if err != nil {
			return fail(err)
		}
		var uploadFailed bool
		if len(uploads) > 0 {
			spec.AfterHash = append(spec.AfterHash, uploadStep(rep, &spec, uploads, std, &uploadFailed))
		}
		code := rep.Run(ctx, spec, std)
		if code == 0 && uploadFailed {
			return exitUpload // COMPLETED with the copies made; stderr named the others
		}
		return code
	case "upload":
		return uploadCmd(ctx, rep, args, std)
	case "report":
		spec, err := parseReport(args)
		if err != nil {
			return fail(err)
		}
		return rep.Report(ctx, spec, std)
	case "verify":
		return verifyCmd(ctx, rep, args, std)
	case "wal-archive":
		spec, err := parseWAL(args)
		if err != nil {
			return fail(err)
		}
		if err := rep.WALArchive(ctx, spec, std); err != nil {
			fmt.Fprintf(std.Err, "backupwatch wal-archive: %v\n", err)
			return 1
		}
		return 0
	case "restore":
		spec, err := parseRestore(args)
		if err != nil {
			return fail(err)
		}
		return rep.Restore(ctx, spec, std)
	case "flush":
		return flushCmd(ctx, rep, args, std)
	}
	return fail(errors.New("unknown job command"))
}

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// backupFlags are the flags run and report share.
type backupFlags struct {
	typ, tenant, file, jobID string
	locations, meta          list
}

func (b *backupFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.typ, "type", "", "")
	fs.StringVar(&b.tenant, "tenant", "", "")
	fs.StringVar(&b.file, "file", "", "")
	fs.StringVar(&b.jobID, "job-id", "", "")
	fs.Var(&b.locations, "location", "")
	fs.Var(&b.meta, "meta", "")
}

func (b *backupFlags) parse() (typ string, tenant jobclient.TenantRef, locs map[string]string, job uuid.UUID, meta map[string]any, err error) {
	switch b.typ {
	case "FULL_DATABASE", "TENANT_BACKUP", "WAL_ARCHIVE", "CONFIGURATION":
	case "":
		return "", "", nil, uuid.Nil, nil, errors.New("--type is required (FULL_DATABASE, TENANT_BACKUP, WAL_ARCHIVE or CONFIGURATION)")
	default:
		return "", "", nil, uuid.Nil, nil, fmt.Errorf("--type %q must be FULL_DATABASE, TENANT_BACKUP, WAL_ARCHIVE or CONFIGURATION", b.typ)
	}
	if b.typ == "TENANT_BACKUP" && b.tenant == "" {
		return "", "", nil, uuid.Nil, nil, errors.New("--tenant is required for TENANT_BACKUP")
	}
	if b.file == "" {
		return "", "", nil, uuid.Nil, nil, errors.New("--file is required (the backup file the command writes, or - for its stdout)")
	}
	if locs, err = parseLocations(b.locations, b.file != "-"); err != nil {
		return "", "", nil, uuid.Nil, nil, err
	}
	if b.jobID != "" {
		if job, err = uuid.Parse(b.jobID); err != nil {
			return "", "", nil, uuid.Nil, nil, fmt.Errorf("--job-id %q is not a UUID", b.jobID)
		}
	}
	meta = map[string]any{}
	for _, kv := range b.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", "", nil, uuid.Nil, nil, fmt.Errorf("--meta %q must be KEY=VALUE", kv)
		}
		meta[k] = v
	}
	return b.typ, jobclient.TenantRef(b.tenant), locs, job, meta, nil
}

// parseLocations reads --location local[=PATH], r2=URI, b2=URI.
func parseLocations(l list, localOK bool) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range l {
		name, uri, _ := strings.Cut(v, "=")
		switch name {
		case "local", "r2", "b2":
		default:
			return nil, fmt.Errorf("--location %q: must be local[=PATH], r2=URI or b2=URI", v)
		}
		if uri == "" && name != "local" {
			return nil, fmt.Errorf("--location %s needs =URI (e.g. %s=%s://bucket/key)", name, name, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--location %s given twice", name)
		}
		out[name] = uri
	}
	return out, nil
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseRun reads run's flags; uploads are the --upload targets.
func parseRun(args []string) (spec jobclient.RunSpec, uploads targetList, err error) {
	fs := newFlags("run")
	var b backupFlags
	b.register(fs)
	output := fs.String("output", "", "")
	walStart := fs.String("wal-start-from", "", "")
	fs.Var(&uploads, "upload", "")
	if err := fs.Parse(args); err != nil {
		return spec, nil, err
	}
	typ, tenant, locs, job, meta, err := b.parse()
	if err != nil {
		return spec, nil, err
	}
	switch {
	case fs.NArg() == 0:
		return spec, nil, errors.New("no command: backupwatch run [flags] -- COMMAND [ARGS...]")
	case b.file == "-" && *output == "":
		return spec, nil, errors.New("--file - needs --output PATH, where the command's stdout is written")
	case b.file != "-" && *output != "":
		return spec, nil, errors.New("--output goes with --file - only")
	}
	for _, t := range uploads {
		if _, ok := locs[string(t)]; ok {
			return spec, nil, fmt.Errorf("--upload %s and --location %s=...: the upload records the %s copy itself", t, t, t)
		}
	}
	return jobclient.RunSpec{Type: typ, Tenant: tenant, File: b.file, Output: *output, Locations: locs, JobID: job,
		Meta: meta, WALStartFrom: *walStart, Args: fs.Args()}, uploads, nil
}

func parseReport(args []string) (jobclient.ReportSpec, error) {
	fs := newFlags("report")
	var b backupFlags
	b.register(fs)
	status := fs.String("status", "", "")
	notes := fs.String("notes", "", "")
	duration := fs.String("duration", "", "")
	if err := fs.Parse(args); err != nil {
		return jobclient.ReportSpec{}, err
	}
	if fs.NArg() != 0 {
		return jobclient.ReportSpec{}, fmt.Errorf("unexpected argument %q (report runs nothing)", fs.Arg(0))
	}
	typ, tenant, locs, job, meta, err := b.parse()
	if err != nil {
		return jobclient.ReportSpec{}, err
	}
	if b.file == "-" {
		return jobclient.ReportSpec{}, errors.New("--file - is for run only")
	}
	if *status != "COMPLETED" && *status != "FAILED" {
		return jobclient.ReportSpec{}, errors.New("--status must be COMPLETED or FAILED")
	}
	spec := jobclient.ReportSpec{Type: typ, Tenant: tenant, File: b.file, Status: *status, Notes: *notes, Locations: locs, JobID: job, Meta: meta}
	if *duration != "" {
		d, err := time.ParseDuration(*duration)
		if err != nil || d < 0 {
			return spec, fmt.Errorf("--duration %q is not a duration such as 5m30s", *duration)
		}
		spec.Duration = &d
	}
	return spec, nil
}

func parseWAL(args []string) (jobclient.WALSpec, error) {
	fs := newFlags("wal-archive")
	var s jobclient.WALSpec
	var locs list
	fs.StringVar(&s.Dir, "dir", "", "")
	fs.StringVar(&s.Copy, "copy", "", "")
	fs.StringVar(&s.Cluster, "cluster", "", "")
	fs.Var(&locs, "location", "")
	// archive_command puts %p %f where it likes: flags may follow them.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return s, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 2 {
		return s, errors.New("usage: wal-archive (--dir DIR | --copy 'COMMAND') %p %f")
	}
	s.Path, s.Name = pos[0], pos[1]
	if (s.Dir == "") == (s.Copy == "") {
		return s, errors.New("give one of --dir DIR (copy into it) or --copy 'COMMAND' (with %p and %f)")
	}
	var err error
	if s.Locations, err = parseLocations(locs, true); err != nil {
		return s, err
	}
	if s.Cluster != "" && !backup.ValidCluster(s.Cluster) {
		// The API would refuse every report of it (metadata.cluster):
		// say so before archive_command archives anything.
		return s, fmt.Errorf("--cluster %q must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", s.Cluster)
	}
	if s.Copy != "" && len(s.Locations) == 0 {
		return s, errors.New("--copy needs --location (where the copy goes, e.g. local=/archive/%f), which the report records")
	}
	for k, v := range s.Locations {
		if v == "" {
			return s, fmt.Errorf("--location %s needs =PATH", k)
		}
	}
	return s, nil
}

func parseRestore(args []string) (jobclient.RestoreSpec, error) {
	fs := newFlags("restore")
	var s jobclient.RestoreSpec
	var tenants list
	var target string
	fs.StringVar(&s.BackupID, "backup", "", "")
	fs.StringVar(&s.Mode, "mode", "", "")
	fs.StringVar(&s.Reason, "reason", "", "")
	fs.StringVar(&s.Notes, "notes", "", "")
	fs.StringVar(&target, "target", "", "")
	fs.StringVar(&s.RowsFrom, "rows-from", "", "")
	fs.StringVar(&s.RowsDB, "rows-db", "", "")
	fs.Var(&tenants, "tenant", "")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if _, err := uuid.Parse(s.BackupID); err != nil {
		return s, errors.New("--backup must be the backup's id (a UUID)")
	}
	switch s.Mode {
	case "FULL", "MERGE", "PITR":
	default:
		return s, errors.New("--mode must be FULL, MERGE or PITR")
	}
	if strings.TrimSpace(s.Reason) == "" {
		return s, errors.New("--reason is required (why this restore, e.g. a ticket)")
	}
	if target != "" {
		t, err := time.Parse(time.RFC3339, target)
		if err != nil {
			return s, fmt.Errorf("--target %q is not an RFC 3339 time such as 2026-11-26T22:34:15Z", target)
		}
		s.Target = &t
	}
	// What the API would refuse, said before the restore runs (API.md:
	// PITR needs target_timestamp, FULL and MERGE forbid it; MERGE names
	// its tenants).
	switch {
	case s.Mode == "PITR" && s.Target == nil:
		return s, errors.New("--mode PITR needs --target TIME, the point to recover to")
	case s.Mode != "PITR" && s.Target != nil:
		return s, fmt.Errorf("--target goes with --mode PITR only, not %s", s.Mode)
	case s.Mode == "MERGE" && len(tenants) == 0:
		return s, errors.New("--mode MERGE needs --tenant (the tenants merged back), once or more")
	}
	for _, t := range tenants {
		s.Tenants = append(s.Tenants, jobclient.TenantRef(t))
	}
	if s.RowsDB != "" && s.RowsFrom == "" {
		return s, errors.New("--rows-db goes with --rows-from")
	}
	if fs.NArg() == 0 {
		return s, errors.New("no command: backupwatch restore [flags] -- COMMAND [ARGS...]")
	}
	s.Args = fs.Args()
	return s, nil
}

func verifyCmd(ctx context.Context, rep *jobclient.Reporter, args []string, std jobclient.Stdio) int {
	fs := newFlags("verify")
	id := fs.String("backup", "", "")
	file := fs.String("file", "", "")
	loc := fs.String("location", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *file == "" {
		fmt.Fprintln(std.Err, "usage: backupwatch verify --backup ID --file PATH [--location local|r2|b2]")
		return exitUsage
	}
	if _, err := uuid.Parse(*id); err != nil {
		fmt.Fprintln(std.Err, "backupwatch verify: --backup must be the backup's id (a UUID)")
		return exitUsage
	}
	res, d, err := rep.Verify(ctx, *id, *file, *loc)
	if err != nil {
		fmt.Fprintf(std.Err, "backupwatch verify: %v\n", err)
		return 1
	}
	out := map[string]any{"verified": res.Verified, "checksum": d.Checksum, "size_bytes": d.Size}
	if len(res.Alert) > 0 && string(res.Alert) != "null" {
		out["alert"] = res.Alert
	}
	enc := json.NewEncoder(std.Out)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	if !res.Verified {
		fmt.Fprintf(std.Err, "backupwatch verify: %s does not match backup %s: INTEGRITY_FAILURE raised\n", *file, *id)
		return 1
	}
	return 0
}

func flushCmd(ctx context.Context, rep *jobclient.Reporter, args []string, std jobclient.Stdio) int {
	fs := newFlags("flush")
	retryAside := fs.Bool("retry-aside", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(std.Err, "usage: backupwatch flush [--retry-aside]")
		return exitUsage
	}
	if *retryAside {
		n, err := rep.Spool.Requeue()
		if err != nil {
			fmt.Fprintf(std.Err, "backupwatch flush: %v\n", err)
			return 1
		}
		fmt.Fprintf(std.Err, "backupwatch flush: %d reports set aside queued again\n", n)
	}
	sum, err := rep.Flush(ctx)
	aside, _ := rep.Spool.Aside()
	fmt.Fprintf(std.Out, "delivered %d, set aside %d, still queued %d (spool %s)\n", sum.Delivered, sum.Aside, sum.Queued, rep.Spool.Dir())
	if len(aside) > 0 {
		fmt.Fprintf(std.Err, "backupwatch flush: %d reports are set aside in %s/aside, each with the API's answer; fix the cause and run flush --retry-aside\n", len(aside), rep.Spool.Dir())
	}
	if sum.Queued > 0 {
		fmt.Fprintf(std.Err, "backupwatch flush: %d reports still queued: %v\n", sum.Queued, err)
		return 1
	}
	return 0
}
