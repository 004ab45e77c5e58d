package jobclient

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// RestoreSpec is a `backupwatch restore`: a restore command and its record.
type RestoreSpec struct {
	BackupID string
	Mode     string // FULL, MERGE, PITR
	Reason   string
	Target   *time.Time // PITR's target_timestamp
	Tenants  []TenantRef
	Notes    string
	// RowsFrom is a SQL count run after a successful command (on RowsDB,
	// or the database the PG* variables name); its result is rows_restored.
	RowsFrom, RowsDB string
	Args             []string
}

// Restore records the restore IN_PROGRESS, runs the command, and records
// it COMPLETED (with rows_restored when RowsFrom is set) or FAILED with
// the command's stderr. It returns the command's exit status, or
// ExitRefused when the API refused to record the restore (an unknown
// backup, a bad key): then the command does not run at all, since a
// restore is audited or not done. An API that cannot be reached does not
// stop it: the record waits in the spool, as every report does.
func (r *Reporter) Restore(ctx context.Context, spec RestoreSpec, std Stdio) int {
	id := uuid.New().String()
	startKey := "bw-restore-" + id + "-start"
	body := map[string]any{"backup_id": spec.BackupID, "restore_mode": spec.Mode, "reason": spec.Reason,
		"metadata": map[string]any{"host": hostname(), "command": filepath.Base(spec.Args[0])}}
	if spec.Target != nil {
		body["target_timestamp"] = spec.Target.UTC().Format(time.RFC3339)
	}
	if spec.Notes != "" {
		body["notes"] = spec.Notes
	}
	start := &Entry{Method: "POST", Path: "/v1/restores", Key: startKey, Awaited: true, What: fmt.Sprintf("%s restore of backup %s", spec.Mode, spec.BackupID)}
	if len(spec.Tenants) > 0 {
		ids, slugs := []string{}, []string{}
		for _, t := range spec.Tenants {
			if t.ID() != "" {
				ids = append(ids, t.ID())
			} else {
				slugs = append(slugs, string(t))
			}
		}
		if len(slugs) > 0 {
			// Resolved at delivery; ids given as ids are looked up as such.
			start.Slugs = map[string][]string{"tenant_ids": append(ids, slugs...)}
		} else {
			body["tenant_ids"] = ids
		}
	}
	start.Body = mustJSON(body)
	// A refusal is said below, once: the start is not kept aside.
	log := r.Log
	var said strings.Builder
	r.Log = &said
	created := r.SendFor(ctx, start, 0)
	r.Log = log
	if created.Outcome != SetAside {
		fmt.Fprint(log, said.String())
	}
	if created.Outcome == SetAside {
		// Nothing ran, so nothing is kept to be retried: a start sent
		// later would record a restore that never happened.
		_ = r.Spool.Drop(start.Key)
		fmt.Fprintf(std.Err, "backupwatch: the restore was NOT run: the API refused to record it (%s)\n", created.why())
		return ExitRefused
	}

	interrupted, release := HoldSignals() // from the command's start to its outcome reported
	defer func() { release(); r.Interrupted = nil }()
	r.Interrupted = interrupted
	exit := Execute(spec.Args, std, nil)
	finish := map[string]any{}
	if exit.OK() {
		finish["status"] = "COMPLETED"
		if spec.RowsFrom != "" {
			n, err := countRows(ctx, spec.RowsDB, spec.RowsFrom)
			if err != nil {
				fmt.Fprintf(std.Err, "backupwatch: --rows-from: %v\n", err)
				finish["notes"] = "rows_restored unknown: " + err.Error()
			} else {
				finish["rows_restored"] = n
			}
		}
	} else {
		finish["status"] = "FAILED"
		finish["error_message"] = exit.Describe(filepath.Base(spec.Args[0]))
	}
	if created.Outcome == Lost {
		// The start could be neither delivered nor queued: send it again
		// (same key) so that the outcome has a restore to update.
		created = r.Send(ctx, start)
	}
	e := &Entry{Method: "PATCH", Key: "bw-restore-" + id + "-finish", Body: mustJSON(finish),
		What: fmt.Sprintf("%s restore of backup %s %s", spec.Mode, spec.BackupID, finish["status"])}
	switch created.Outcome {
	case Delivered:
		e.Path = "/v1/restores/" + created.ID()
	case Queued:
		e.Resource, e.After = "/v1/restores", startKey
	case SetAside:
		// Refused once the command had run (its start was lost first):
		// the outcome is kept aside after it, so that `flush
		// --retry-aside` records both, in order, once the cause is fixed.
		e.Resource, e.After = "/v1/restores", startKey
		_, _ = r.Spool.SetAside(e, Answer{Body: mustJSON(map[string]any{"error": map[string]string{
			"code": "not_sent", "message": "the restore it updates was refused; retried after it"}})})
		fmt.Fprintf(std.Err, "backupwatch: the restore ran but was NOT recorded: the API refused it (%s); its outcome is kept aside with it: fix the cause, then `backupwatch flush --retry-aside`\n", created.why())
		return refusedOr(exit.Code)
	case Lost:
		fmt.Fprintf(std.Err, "backupwatch: the restore could not be recorded (see above), so its outcome is not reported either\n")
		return refusedOr(exit.Code)
	}
	if res := r.Send(ctx, e); res.Outcome == SetAside || res.Outcome == Lost {
		if res.Outcome == SetAside {
			fmt.Fprintf(std.Err, "backupwatch: the restore's outcome was NOT recorded: the API refused it (%s); fix the cause, then `backupwatch flush --retry-aside`\n", res.why())
		}
		return refusedOr(exit.Code)
	}
	return exit.Code
}

// refusedOr is code, or ExitRefused in place of a 0 whose record failed.
func refusedOr(code int) int {
	if code == 0 {
		return ExitRefused
	}
	return code
}

// countRows runs the count query on db ("" : the PG* environment).
func countRows(ctx context.Context, db, query string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
		return 0, fmt.Errorf("%q: %w", query, err)
	}
	return n, nil
}
