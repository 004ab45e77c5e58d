package jobclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
)

// RunSpec is a `backupwatch run`: a backup command and what to report of it.
type RunSpec struct {
	Type   string
	Tenant TenantRef // "" for none
	// File is the backup the command writes; "-" takes the command's
	// stdout instead, hashed while it runs and written to Output.
	File, Output string
	// Locations are copies to record beside the file: "local", "r2", "b2"
	// to a path (local defaults to the file).
	Locations map[string]string
	JobID     uuid.UUID // uuid.Nil: a new one
	Meta      map[string]any
	// WALStartFrom is a pg_basebackup's output directory: its backup label
	// gives metadata.wal_start (API.md 1.1, base backups).
	WALStartFrom string
	Args         []string
	// AfterHash are the steps between "file hashed" and "COMPLETED
	// reported", in order (--upload's copies to R2 and B2). Each may add
	// locations to the artifact; an error makes the report FAILED.
	AfterHash []Step
}

// Artifact is the backup file once the command succeeded and it is hashed.
type Artifact struct {
	Path     string // the file on this host
	Filename string
	Digest   Digest
	// Locations are the copies the COMPLETED report records, by location
	// ("local", "r2", "b2"); steps add theirs.
	Locations map[string]string
	Metadata  map[string]any
	// CreatedAt is the backup's created_at as the API answered the
	// IN_PROGRESS report, or when the run started if that report is still
	// waiting (uploads file the object under its date, API.md 1.1).
	CreatedAt time.Time
	// JobID is the backup's backup_job_id; BackupID its id once the API
	// answered the IN_PROGRESS report ("" while it waits): uploads name
	// the backup on its copies.
	JobID    uuid.UUID
	BackupID string
}

// Step is work done on a hashed backup before it is reported COMPLETED.
type Step func(ctx context.Context, a *Artifact) error

// ExitRefused is the exit status of run and restore when the command
// succeeded (or, for restore, did not run) but the API refused to record
// it: the report is kept aside until `flush --retry-aside`, and a cron
// job's status must not say that all is well.
const ExitRefused = 4

// Run reports the backup IN_PROGRESS, runs the command, and reports it
// COMPLETED or FAILED. It returns the wrapper's exit status: the
// command's, 1 when it exited 0 but left no usable backup, or ExitRefused
// when it exited 0 but its outcome could not be recorded.
func (r *Reporter) Run(ctx context.Context, spec RunSpec, std Stdio) int {
	again := spec.JobID != uuid.Nil
	if !again {
		spec.JobID = uuid.New()
	}
	j := r.newJob(spec)
	j.start(ctx)
	if again {
		j.rerun(ctx)
	}

	var tee *Hasher
	var teeFile *os.File
	var teeOut *firstError
	var stdout io.Writer
	if spec.File == "-" {
		f, err := os.Create(spec.Output)
		if err != nil {
			fmt.Fprintf(std.Err, "backupwatch: --output: %v\n", err)
			j.finish(ctx, failed(fmt.Sprintf("--output %s could not be created: %v", spec.Output, err), 0, nil), std)
			return 1
		}
		teeFile, tee, teeOut = f, NewHasher(), &firstError{w: f}
		stdout = io.MultiWriter(teeOut, tee)
	}
	interrupted, release := HoldSignals() // from the command's start to its outcome reported
	defer func() { release(); r.Interrupted = nil }()
	r.Interrupted = interrupted
	exit := Execute(spec.Args, std, stdout)
	if teeFile != nil {
		// A write that failed (a full disk) stopped the copy, and the
		// command died of it: say why, not just that it was SIGPIPE.
		err := teeOut.err
		if err == nil {
			err = teeFile.Sync()
		}
		if cerr := teeFile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			exit.Stderr = strings.TrimSpace(exit.Stderr + "\nwriting --output " + spec.Output + ": " + err.Error())
			if exit.OK() {
				exit.Code = 1
			}
		}
	}
	name := filepath.Base(spec.Args[0])
	if !exit.OK() {
		j.finish(ctx, failed(exit.Describe(name), exit.Duration, &exit), std)
		return exit.Code
	}
	a, err := j.artifact(tee)
	if err == nil {
		for _, step := range spec.AfterHash {
			if err = step(ctx, a); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintf(std.Err, "backupwatch: %v\n", err)
		j.finish(ctx, failed(fmt.Sprintf("%s exited with status 0, but %v", name, err), exit.Duration, &exit), std)
		return 1
	}
	if !j.finish(ctx, completed(a, exit.Duration), std) {
		return ExitRefused
	}
	return 0
}

// firstError is a writer that keeps its first error.
type firstError struct {
	w   io.Writer
	err error
}

func (f *firstError) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil && f.err == nil {
		f.err = err
	}
	return n, err
}

// job is one run's reports: a create, then the update that finishes it.
type job struct {
	r        *Reporter
	spec     RunSpec
	filename string
	meta     map[string]any
	created  Result
	startKey string
	started  time.Time
}

func (r *Reporter) newJob(spec RunSpec) *job {
	file := spec.File
	if file == "-" {
		file = spec.Output
	}
	meta := map[string]any{"host": hostname()}
	for k, v := range spec.Meta {
		meta[k] = v
	}
	return &job{r: r, spec: spec, filename: filepath.Base(file), meta: meta, startKey: "bw-run-" + spec.JobID.String() + "-start"}
}

// what names the job's backup for people reading the log or the spool.
func (j *job) what(status string) string {
	return fmt.Sprintf("%s backup %s (job %s) %s", j.spec.Type, j.filename, j.spec.JobID, status)
}

// start reports the backup IN_PROGRESS.
func (j *job) start(ctx context.Context) {
	body := map[string]any{
		"backup_type": j.spec.Type, "filename": j.filename, "backup_job_id": j.spec.JobID.String(),
		"status": "IN_PROGRESS", "metadata": j.meta,
	}
	e := &Entry{Method: "POST", Path: "/v1/backups", Key: j.startKey, Awaited: true, What: j.what("IN_PROGRESS")}
	j.setTenant(body, e)
	e.Body = mustJSON(body)
	j.started = time.Now().UTC()
	// Starting the backup matters more than reporting that it started:
	// one attempt, then the command runs; a retry comes with the finish.
	j.created = j.r.SendFor(ctx, e, 0)
}

// rerun makes a run of a --job-id whose backup is finished already (a
// rerun after a FAILED run, or after a crash that the API outlived) a new
// attempt: that backup is final (API.md), so this run is recorded as a
// new backup whose metadata names the job and the backup it follows
// (rerun_of_job_id, rerun_of_backup_id), and stderr says so. A backup
// still IN_PROGRESS is this run's own (a wrapper that died): it goes on.
func (j *job) rerun(ctx context.Context) {
	if j.created.Outcome != Delivered {
		return
	}
	var b struct{ ID, Status string }
	if err := j.r.Client.JSON(ctx, "GET", "/v1/backups/"+j.created.ID(), nil, &b); err != nil || b.Status == "IN_PROGRESS" || b.Status == "" {
		return // unknown: the outcome meets the API's own answer
	}
	old := j.spec.JobID
	j.spec.JobID = uuid.New()
	j.startKey = "bw-run-" + j.spec.JobID.String() + "-start"
	j.meta["rerun_of_job_id"], j.meta["rerun_of_backup_id"] = old.String(), b.ID
	fmt.Fprintf(j.r.Log, "backupwatch: job %s is backup %s, %s already (final); this run is a new attempt, recorded as job %s (metadata.rerun_of_job_id)\n",
		old, b.ID, b.Status, j.spec.JobID)
	j.start(ctx)
}

func (j *job) setTenant(body map[string]any, e *Entry) {
	switch {
	case j.spec.Tenant == "":
	case j.spec.Tenant.ID() != "":
		body["tenant_id"] = j.spec.Tenant.ID()
	default:
		e.Slugs = map[string][]string{"tenant_id": {string(j.spec.Tenant)}}
	}
}

// outcome is the finishing report: its status, its fields, and what it
// adds to the metadata.
type outcome struct {
	status string
	fields map[string]any
	meta   map[string]any
}

func failed(notes string, d time.Duration, exit *Exit) outcome {
	o := outcome{status: "FAILED", fields: map[string]any{"notes": notes, "backup_duration_seconds": seconds(d)}, meta: map[string]any{}}
	if exit != nil && exit.StartErr == nil {
		o.meta["exit_code"] = exit.Code
	}
	return o
}

func completed(a *Artifact, d time.Duration) outcome {
	o := outcome{status: "COMPLETED", fields: map[string]any{
		"size_bytes": a.Digest.Size, "checksum": a.Digest.Checksum, "backup_duration_seconds": seconds(d)}, meta: a.Metadata}
	for loc, p := range a.Locations {
		o.fields[loc+"_path"] = p
	}
	return o
}

// finish reports the outcome: a PATCH of the created backup, or, when the
// create was refused or lost, the whole backup in one POST. It reports
// whether the outcome is recorded or on its way (delivered or queued);
// if not, it says so on std.Err.
func (j *job) finish(ctx context.Context, o outcome, std Stdio) bool {
	meta := map[string]any{}
	for k, v := range j.meta {
		meta[k] = v
	}
	for k, v := range o.meta {
		meta[k] = v
	}
	body := map[string]any{"status": o.status}
	for k, v := range o.fields {
		body[k] = v
	}
	body["metadata"] = meta
	e := &Entry{Method: "PATCH", Key: "bw-run-" + j.spec.JobID.String() + "-finish", What: j.what(o.status)}
	switch j.created.Outcome {
	case Delivered:
		e.Path = "/v1/backups/" + j.created.ID()
	case Queued:
		e.Resource, e.After = "/v1/backups", j.startKey
	case SetAside, Lost:
		// The API refused the IN_PROGRESS report, or it could be neither
		// delivered nor queued: report the backup whole.
		e.Method, e.Path, e.Key = "POST", "/v1/backups", "bw-run-"+j.spec.JobID.String()+"-report"
		body["backup_type"], body["filename"], body["backup_job_id"] = j.spec.Type, j.filename, j.spec.JobID.String()
		j.setTenant(body, e)
	}
	e.Body = mustJSON(body)
	res := j.r.Send(ctx, e)
	switch res.Outcome {
	case SetAside:
		fmt.Fprintf(std.Err, "backupwatch: %s was NOT recorded: the API refused the report (%s); fix the cause, then `backupwatch flush --retry-aside`\n", j.what(o.status), res.why())
		return false
	case Lost:
		return false // said on stderr
	}
	return true
}

// artifact hashes the backup file (or takes the tee's digest) and checks
// that there is a backup at all: a missing or empty file is a failure.
func (j *job) artifact(tee *Hasher) (*Artifact, error) {
	path := j.spec.File
	var d Digest
	if tee != nil {
		path, d = j.spec.Output, tee.Digest()
	} else {
		st, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the backup file %s does not exist", path)
		}
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("the backup file %s is not a regular file", path)
		}
		if d, err = HashFile(path); err != nil {
			return nil, err
		}
	}
	if d.Size == 0 {
		return nil, fmt.Errorf("the backup file %s is empty", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	a := &Artifact{Path: abs, Filename: j.filename, Digest: d, Locations: map[string]string{"local": abs}, Metadata: map[string]any{},
		CreatedAt: j.started, JobID: j.spec.JobID}
	var created struct {
		CreatedAt time.Time `json:"created_at"`
	}
	if j.created.Outcome == Delivered && json.Unmarshal(j.created.Answer.Body, &created) == nil && !created.CreatedAt.IsZero() {
		a.CreatedAt = created.CreatedAt
	}
	if j.created.Outcome == Delivered {
		a.BackupID = j.created.ID()
	}
	for loc, p := range j.spec.Locations {
		if p != "" {
			a.Locations[loc] = p
		}
	}
	if j.spec.WALStartFrom != "" {
		start, err := WALStart(j.spec.WALStartFrom)
		if err != nil {
			return nil, fmt.Errorf("--wal-start-from: %w", err)
		}
		a.Metadata["wal_start"] = start
	}
	return a, nil
}

func seconds(d time.Duration) int64 { return int64(d.Round(time.Second) / time.Second) }

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
