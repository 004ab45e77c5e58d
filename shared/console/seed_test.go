package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/console"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// site is the API and the console on one real loopback server, as `serve`
// mounts them, over a fresh database.
type site struct {
	*testenv.API
	URL     string // the server's base URL
	Console *console.Console
}

func newSite(t testing.TB) *site {
	t.Helper()
	a := testenv.NewAPI(t)
	c := console.New(console.Config{Pool: a.Pool, Logger: testenv.Quiet(), Now: a.Clock.Now})
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c.Handler())
	mux.Handle(console.Prefix+"/", c.Handler())
	mux.Handle("/", a.Server.Handler(httpapi.AllRoutes))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &site{API: a, URL: srv.URL, Console: c}
}

// world is what seed made: two tenants, keys of each kind, a history of
// backups over two months, restores and open alerts.
type world struct {
	Acme, Globex  string // tenant ids
	Operator      string // an operator key of every tenant
	AcmeOperator  string // an operator key of acme only
	Job           string // a job key
	AcmeNewest    string // acme's newest backup: far under its usual size, restored (and failed once)
	GlobexBackup  string // one of globex's backups
	Restore       string // the completed restore of AcmeNewest
	FailedRestore string
	// Copies read: every copy of FullChecked matched; AcmeMismatch's R2
	// copy matched and its B2 copy did not (an INTEGRITY_FAILURE).
	FullChecked, AcmeMismatch string
}

func ptr[T any](v T) *T { return &v }

// seed fills s with a history people would recognise. Older backups are
// stored directly (their created_at lies in the past, which the API does
// not let a job say); what happens now goes through the API, and the
// alerts come from the API and a check run, as in production.
func seed(t testing.TB, s *site) world {
	t.Helper()
	ctx := context.Background()
	w := world{Acme: s.Tenant(t, "acme"), Globex: s.Tenant(t, "globex")}
	w.Operator = s.Key(t, "operator", "")
	w.AcmeOperator = s.Key(t, "operator", w.Acme)
	w.Job = s.Key(t, "job", "")
	acme, globex := uuid.MustParse(w.Acme), uuid.MustParse(w.Globex)
	now := s.Clock.Now().UTC().Truncate(time.Hour)

	var history []backup.Backup
	add := func(typ backup.Type, tenant *uuid.UUID, name string, at time.Time, size, secs int64, verified bool, places ...string) backup.Backup {
		b := backup.Backup{ID: uuid.New(), Type: typ, TenantID: tenant, Filename: name, SizeBytes: ptr(size),
			Checksum: ptr(testenv.Checksum(name)), Status: backup.Completed, CreatedAt: at, UpdatedAt: at.Add(time.Duration(secs) * time.Second),
			CompressionRatio: ptr(3.2), DurationSeconds: ptr(secs), Metadata: json.RawMessage(`{"host": "db-1", "pg_version": "16.4"}`)}
		for _, p := range places {
			path := p + "://backups/" + name
			switch p {
			case "local":
				path = "/var/backups/" + name
				b.LocalPath = &path
			case "r2":
				b.R2Path = &path
			case "b2":
				b.B2Path = &path
			}
		}
		if verified {
			b.Status, b.VerifiedAt = backup.Verified, ptr(at.Add(2*time.Hour))
		}
		history = append(history, b)
		return b
	}
	// Nightly fulls for 45 nights, about 3.7 GB and 20 minutes each.
	for d := 45; d >= 1; d-- {
		at := now.Add(-time.Duration(d)*24*time.Hour + 2*time.Hour)
		b := add(backup.FullDatabase, nil, fmt.Sprintf("full-%s.dump.zst", at.Format("2006-01-02")), at,
			3_700_000_000+int64(d%5)*40_000_000, 1200+int64(d%4)*60, d%3 == 0, "local", "r2", "b2")
		if d == 3 {
			w.FullChecked = b.ID.String()
		}
	}
	// Acme's tenant exports every third day, about 342 MB; globex's, 80 MB.
	for d := 60; d >= 3; d -= 3 {
		at := now.Add(-time.Duration(d) * 24 * time.Hour)
		a := add(backup.TenantBackup, &acme, fmt.Sprintf("acme-%s.tar.zst", at.Format("2006-01-02")), at,
			342_000_000+int64(d%7)*3_000_000, 300+int64(d%5)*20, d%2 == 0, "r2", "b2")
		if d == 3 {
			w.AcmeMismatch = a.ID.String()
		}
		g := add(backup.TenantBackup, &globex, fmt.Sprintf("globex-%s.tar.zst", at.Format("2006-01-02")), at.Add(time.Hour),
			80_000_000+int64(d%3)*1_000_000, 120, false, "r2")
		w.GlobexBackup = g.ID.String()
	}
	add(backup.Configuration, nil, fmt.Sprintf("config-%s.tar", now.Add(-26*time.Hour).Format("2006-01-02")), now.Add(-26*time.Hour), 2_400_000, 4, true, "r2")
	err := store.InScope(ctx, s.Pool, store.AllTenants, func(tx pgx.Tx) error {
		for _, b := range history {
			if err := store.InsertBackup(ctx, tx, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Now: acme's newest export is 12 % of its usual size; last night's full failed.
	newest := testenv.Completed("TENANT_BACKUP", w.Acme, "acme-"+now.Format("2006-01-02")+".tar.zst", 41_000_000)
	newest["b2_path"] = "b2://backups/acme-" + now.Format("2006-01-02") + ".tar.zst"
	w.AcmeNewest = s.Call(t, 201, "POST", "/v1/backups", w.Job, newest)["id"].(string)
	failed := s.Call(t, 201, "POST", "/v1/backups", w.Job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "full-" + now.Format("2006-01-02") + ".dump.zst"})["id"].(string)
	s.Call(t, 200, "PATCH", "/v1/backups/"+failed, w.Job, map[string]any{"status": "FAILED", "notes": "pg_dump exited 1: could not connect to server"})

	// Support restored acme's newest export twice: once it failed.
	r := s.Call(t, 201, "POST", "/v1/restores", w.Operator, map[string]any{"backup_id": w.AcmeNewest, "restore_mode": "MERGE",
		"tenant_ids": []string{w.Acme}, "reason": "ticket OPS-1234: acme deleted invoices by mistake"})
	w.FailedRestore = r["id"].(string)
	s.Call(t, 200, "PATCH", "/v1/restores/"+w.FailedRestore, w.Operator, map[string]any{"status": "FAILED", "error_message": "relation \"invoices\" is locked"})
	r = s.Call(t, 201, "POST", "/v1/restores", w.Operator, map[string]any{"backup_id": w.AcmeNewest, "restore_mode": "MERGE",
		"tenant_ids": []string{w.Acme}, "reason": "ticket OPS-1234: retry after the lock cleared"})
	w.Restore = r["id"].(string)
	s.Call(t, 200, "PATCH", "/v1/restores/"+w.Restore, w.Operator, map[string]any{"status": "COMPLETED", "rows_restored": 120034})

	// r2 is 86 % full; then one check run judges it all.
	s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"capacity_bytes": 200_000_000_000, "warn_percent": 80, "critical_percent": 95})
	s.Call(t, 200, "PUT", "/v1/storage-targets/b2", s.AdminKey, map[string]any{"capacity_bytes": 1_000_000_000_000, "warn_percent": 80, "critical_percent": 95})
	s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)

	// The copies read since: the fulls' all matched; acme's B2 copy did not.
	for _, loc := range []string{"local", "r2", "b2"} {
		s.Call(t, 200, "POST", "/v1/backups/"+w.FullChecked+"/verify", s.AdminKey, map[string]any{"checksum": checksumOf(history, w.FullChecked), "location": loc})
	}
	s.Call(t, 200, "POST", "/v1/backups/"+w.AcmeMismatch+"/verify", s.AdminKey, map[string]any{"checksum": checksumOf(history, w.AcmeMismatch), "location": "r2"})
	s.Call(t, 200, "POST", "/v1/backups/"+w.AcmeMismatch+"/verify", s.AdminKey, map[string]any{"checksum": testenv.Checksum("corrupt"), "location": "b2"})
	return w
}

// checksumOf is the checksum of backup id among bs.
func checksumOf(bs []backup.Backup, id string) string {
	for _, b := range bs {
		if b.ID.String() == id {
			return *b.Checksum
		}
	}
	panic("no backup " + id)
}
