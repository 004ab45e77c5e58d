package jobclient

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ReportSpec is a `backupwatch report`: a finished backup reported in one
// call, without running anything.
type ReportSpec struct {
	Type      string
	Tenant    TenantRef
	File      string
	Status    string // COMPLETED or FAILED
	Notes     string
	Locations map[string]string
	JobID     uuid.UUID
	Meta      map[string]any
	Duration  *time.Duration
}

// Report reports a finished backup. A COMPLETED one is hashed first; a
// missing or empty file makes it FAILED (exit 1), as in Run.
func (r *Reporter) Report(ctx context.Context, spec ReportSpec, std Stdio) int {
	if spec.JobID == uuid.Nil {
		spec.JobID = uuid.New()
	}
	j := r.newJob(RunSpec{Type: spec.Type, Tenant: spec.Tenant, File: spec.File, Locations: spec.Locations, JobID: spec.JobID, Meta: spec.Meta})
	j.created = Result{Outcome: SetAside} // no IN_PROGRESS report: finish posts the backup whole
	var d time.Duration
	if spec.Duration != nil {
		d = *spec.Duration
	}
	o := failed(spec.Notes, d, nil)
	code := 0
	if spec.Status == "COMPLETED" {
		a, err := j.artifact(nil)
		if err != nil {
			fmt.Fprintf(std.Err, "backupwatch: %v\n", err)
			o, code = failed(fmt.Sprintf("reported COMPLETED, but %v", err), d, nil), 1
		} else {
			o = completed(a, d)
			if spec.Notes != "" {
				o.fields["notes"] = spec.Notes
			}
		}
	}
	if spec.Duration == nil {
		delete(o.fields, "backup_duration_seconds")
	}
	if !j.finish(ctx, o, std) && code == 0 {
		return ExitRefused
	}
	return code
}

// VerifyResult is the API's answer to /verify.
type VerifyResult struct {
	Verified bool            `json:"verified"`
	Backup   json.RawMessage `json:"backup"`
	Alert    json.RawMessage `json:"alert"`
}

// Verify hashes path and asks the API whether it is backup id's file
// (POST /v1/backups/{id}/verify). It is not spooled: its answer is the
// point. A mismatch raises INTEGRITY_FAILURE on the API's side.
func (r *Reporter) Verify(ctx context.Context, id, path, location string) (VerifyResult, Digest, error) {
	d, err := HashFile(path)
	if err != nil {
		return VerifyResult{}, d, err
	}
	body := map[string]any{"checksum": d.Checksum}
	if location != "" {
		body["location"] = location
	}
	var res VerifyResult
	err = r.Client.JSON(ctx, "POST", "/v1/backups/"+id+"/verify", body, &res)
	return res, d, err
}
