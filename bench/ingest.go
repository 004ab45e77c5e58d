package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/store"
)

// BackupReport is one backup a job reports: the body of POST /v1/backups, and
// the same row for the baseline's INSERT.
type BackupReport struct {
	Type     backup.Type
	TenantID *uuid.UUID
	Filename string
	Size     int64
	Checksum string
	JobID    *uuid.UUID
	Duration int64
	Ratio    float64
}

// Body is the request body a backup job sends.
func (r BackupReport) Body() []byte {
	m := map[string]any{
		"backup_type": r.Type, "filename": r.Filename, "size_bytes": r.Size, "checksum": r.Checksum,
		"r2_path": "r2://bw-backups/" + r.Filename, "status": "COMPLETED",
		"compression_ratio": r.Ratio, "backup_duration_seconds": r.Duration,
	}
	if r.TenantID != nil {
		m["tenant_id"] = r.TenantID
	}
	if r.JobID != nil {
		m["backup_job_id"] = r.JobID
	}
	b, _ := json.Marshal(m)
	return b
}

// Reports makes n completed backup reports in the mix a catalogue receives
// (60 % tenant configuration snapshots, 20 % tenant exports, 15 % WAL
// archives, 5 % full dumps) over tenants; tag keeps filenames apart between runs.
func Reports(n int, tenants []uuid.UUID, tag string) []BackupReport {
	out := make([]BackupReport, n)
	for i := range out {
		r := BackupReport{Duration: int64(5 + i%50), Ratio: 3.1,
			Checksum: fmt.Sprintf("%064x", uint64(i)*0x9e3779b97f4a7c15)}
		t := tenants[i%len(tenants)]
		switch k := i % 20; {
		case k < 12:
			r.Type, r.TenantID, r.Size = backup.Configuration, &t, 180_000+int64(i%997)
		case k < 16:
			id := uuid.New()
			r.Type, r.TenantID, r.JobID, r.Size = backup.TenantBackup, &t, &id, 500_000_000+int64(i)
		case k < 19:
			r.Type, r.Size = backup.WALArchive, 16_777_216
		default:
			id := uuid.New()
			r.Type, r.JobID, r.Size = backup.FullDatabase, &id, 80_000_000_000+int64(i)
		}
		r.Filename = fmt.Sprintf("bench-%s-%07d-%s.zst", tag, i, r.Type)
		out[i] = r
	}
	return out
}

// Load is the outcome of one load run.
type Load struct {
	Requests  int
	Elapsed   time.Duration
	Latencies []time.Duration
}

// PerSecond is the run's throughput.
func (l Load) PerSecond() float64 { return float64(l.Requests) / l.Elapsed.Seconds() }

// RunLoad calls do(i) for i in [0, n) from conc goroutines, each taking the
// next i, and times every call and the whole run. The first error stops
// the run.
func RunLoad(ctx context.Context, n, conc int, do func(ctx context.Context, i int) error) (Load, error) {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([]time.Duration, n)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := do(ctx, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	l := Load{Requests: n, Elapsed: time.Since(start), Latencies: lat}
	return l, firstErr
}

// PostReports is the service side of the ingest benchmark: each report
// POSTed to /v1/backups with the job key of c; anything but 201 is an error.
func PostReports(c *Client, reports []BackupReport) func(ctx context.Context, i int) error {
	bodies := make([][]byte, len(reports))
	for i, r := range reports {
		bodies[i] = r.Body()
	}
	return func(ctx context.Context, i int) error {
		status, out, err := c.Do(ctx, "POST", "/v1/backups", bodies[i])
		if err != nil {
			return err
		}
		if status != 201 {
			return fmt.Errorf("POST /v1/backups: status %d: %s", status, out)
		}
		return nil
	}
}

// InsertReports is the baseline: each report as one single-row INSERT,
// straight into PostgreSQL as the schema owner (no HTTP, no JSON, no
// authentication, no transaction of its own, no row-level security).
func InsertReports(pool *pgxpool.Pool, reports []BackupReport, by uuid.UUID) func(ctx context.Context, i int) error {
	return func(ctx context.Context, i int) error {
		r := reports[i]
		now := time.Now()
		_, err := pool.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes,
			checksum, r2_path, status, created_at, updated_at, backup_job_id, compression_ratio,
			backup_duration_seconds, created_by_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'COMPLETED', $8, $8, $9, $10, $11, $12)`,
			uuid.New(), r.Type, r.TenantID, r.Filename, r.Size, r.Checksum, "r2://bw-backups/"+r.Filename,
			now, r.JobID, r.Ratio, r.Duration, by)
		if err != nil {
			return fmt.Errorf("inserting %s: %w", r.Filename, err)
		}
		return nil
	}
}

// ServiceStatements is the diagnostic between the two: the statements the
// service sends for one report, through the store's own functions on the
// runtime role's pool, without HTTP or JSON. The key is looked up once, as
// the service's key cache does (httpapi.KeyCacheTTL); then each report is
// one batch, the scope and the INSERT (which checks the tenant and whether
// the series' failure alert is open), and only if that alert is open, its
// resolution. What separates it from the baseline is round trips and
// statements, what separates it from the service is HTTP and JSON.
func ServiceStatements(pool *pgxpool.Pool, reports []BackupReport, keyHash []byte) func(ctx context.Context, i int) error {
	var (
		once   sync.Once
		who    auth.Principal
		keyErr error
	)
	return func(ctx context.Context, i int) error {
		once.Do(func() { who, keyErr = store.LookupKey(ctx, pool, keyHash) })
		if keyErr != nil {
			return keyErr
		}
		scope := store.AllTenants
		if who.Tenant != nil {
			scope = store.TenantScope(*who.Tenant)
		}
		r := reports[i]
		r2 := "r2://bw-backups/" + r.Filename
		b := backup.New{Type: r.Type, TenantID: r.TenantID, Filename: r.Filename, SizeBytes: &r.Size,
			Checksum: &r.Checksum, R2Path: &r2, Status: backup.Completed, BackupJobID: r.JobID,
			CompressionRatio: &r.Ratio, DurationSeconds: &r.Duration}.Build(uuid.New(), &who.UserID, time.Now().UTC())
		fp := decision.FailureFingerprint(b.Series())
		rep, err := store.ReportBackupAlone(ctx, pool, scope, 5*time.Second, b, fp)
		if err != nil || !rep.Open {
			return err
		}
		return store.InScope(ctx, pool, store.AllTenants, func(tx pgx.Tx) error {
			_, _, err := store.ResolveOpenAlert(ctx, tx, fp, "resolved automatically", time.Now().UTC())
			return err
		})
	}
}

// HTTPAlone is the other diagnostic: the same requests through the same
// client to an in-process server whose handler reads the body and answers
// 201 with a backup-sized body, doing nothing else. Its rate is what HTTP
// alone allows on this machine at that concurrency, beside the client and
// the database sharing its cores.
func HTTPAlone(ctx context.Context, reports []BackupReport, conc int) (Load, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Load{}, err
	}
	answer := []byte(`{"id":"7d0c5f9e-8f8e-4a55-9d52-3c4b8a7f0e11","backup_type":"CONFIGURATION",` +
		`"tenant_id":"7d0c5f9e-8f8e-4a55-9d52-3c4b8a7f0e12","filename":"config-tenant-00001-2026-11-27.json.gz",` +
		`"size_bytes":180000,"checksum":"2ba353f745977d6c3a9f58889a69a3aa8cc21a76d0396abf6ac34bcd6a47c084",` +
		`"local_path":null,"r2_path":"r2://bw-backups/config-tenant-00001-2026-11-27.json.gz","b2_path":null,` +
		`"status":"COMPLETED","created_at":"2026-11-27T02:23:53.123456Z","updated_at":"2026-11-27T02:23:53.123456Z",` +
		`"verified_at":null,"backup_job_id":null,"compression_ratio":3.1,"backup_duration_seconds":5,"notes":"",` +
		`"created_by":"7d0c5f9e-8f8e-4a55-9d52-3c4b8a7f0e13","metadata":{}}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(answer)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	return RunLoad(ctx, len(reports), conc, PostReports(NewClient("http://"+ln.Addr().String(), "bw_none", conc), reports))
}
