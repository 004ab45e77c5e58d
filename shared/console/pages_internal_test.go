package console

import (
	"io/fs"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/restore"
	"github.com/backupwatch/backupwatch/shared/store"
)

// TestEveryPageParses: every page's template parses with the layout (the
// console parses each the first time it is shown).
func TestEveryPageParses(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found %d templates: %v", len(names), names)
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		if parsePage(name).Lookup("main") == nil {
			t.Errorf("page %s defines no main", name)
		}
	}
}

// TestNoticeFitsItsCookie: a bulk change's line rides in a cookie, which a
// browser drops whole past 4 KB; with long names it keeps what fits (the
// counts always) and the next page reads it back.
func TestNoticeFitsItsCookie(t *testing.T) {
	for _, tc := range []struct {
		skipped, nameLen int
		nameKept         bool
		listKept         bool
		reasonLen        int
	}{
		{skipped: 10, nameLen: 3, nameKept: true, listKept: true, reasonLen: 20},
		{skipped: 10, nameLen: 60, nameKept: false, listKept: true, reasonLen: 20},
		{skipped: 10, nameLen: 60, nameKept: false, listKept: false, reasonLen: 400},
	} {
		long := strings.Repeat("Ü<&>", tc.nameLen) // escaped longer in JSON
		n := notice{Text: "Acknowledged 1 alert.", Left: tc.skipped + 5}
		for range tc.skipped {
			n.Skipped = append(n.Skipped, skippedAlert{ID: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", Name: long, Reason: strings.Repeat("r", tc.reasonLen)})
		}
		w := httptest.NewRecorder()
		var c Console
		if _, err := c.bounce(&request{w: w, r: httptest.NewRequest("POST", Prefix+"/alerts/acknowledge", nil)}, Prefix+"/alerts", n); err != nil {
			t.Fatal(err)
		}
		ck := w.Result().Cookies()[0]
		if len(ck.Value) > maxNotice || len(ck.String()) > 4000 {
			t.Fatalf("%d skipped: a cookie of %d bytes", tc.skipped, len(ck.String()))
		}
		r := httptest.NewRequest("GET", Prefix+"/alerts", nil)
		r.AddCookie(ck)
		got := c.takeNotice(httptest.NewRecorder(), r)
		if got == nil || got.Text != n.Text || got.Left != n.Left {
			t.Fatalf("%d skipped: read back %+v", tc.skipped, got)
		}
		if (len(got.Skipped) > 0) != tc.listKept || (tc.listKept && (got.Skipped[0].Name != "") != tc.nameKept) {
			t.Errorf("%d skipped, reasons of %d: kept %+v; want names %v, list %v", tc.skipped, tc.reasonLen, got.Skipped, tc.nameKept, tc.listKept)
		}
	}
}

// TestRestoreSentence: the sentence's verb is the restore's state, the
// backup is named by its own tenant and type, the tenants restored into
// are said apart, and dates have their year.
func TestRestoreSentence(t *testing.T) {
	acme, globex := "acme", "globex"
	ana := &store.UserName{Name: "Ana"}
	at := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	base := restore.Restore{Backup: restore.BackupRef{Type: backup.TenantBackup, CreatedAt: at}, Reason: "OPS-1234"}
	for _, tc := range []struct {
		row  RestoreRow
		want string
	}{
		{func() RestoreRow {
			r := base
			r.Status, r.Mode, r.TargetTimestamp = restore.Completed, restore.PITR, ptr(at.Add(-7*time.Hour-30*time.Minute))
			r.DurationSeconds, r.RowsRestored = ptr(int64(240)), ptr(int64(120034))
			return RestoreRow{Restore: r, InitiatedBy: ana, Owner: &store.TenantName{Slug: &acme}}
		}(), "Ana restored acme's tenant backup of 26 Nov 2026 02:00 (PITR to 25 Nov 2026 18:30) for OPS-1234; it completed in 4 min, 120,034 rows."},
		{func() RestoreRow {
			r := base
			r.Backup.Type, r.Status, r.Mode, r.ErrorMessage = backup.FullDatabase, restore.Failed, restore.Merge, ptr("locked")
			r.TenantIDs = []uuid.UUID{uuid.New(), uuid.New()}
			return RestoreRow{Restore: r, InitiatedBy: ana, Tenants: []store.TenantName{{Slug: &acme}, {Slug: &globex}}}
		}(), "Ana tried to restore the full database backup of 26 Nov 2026 02:00 (MERGE into acme, globex) for OPS-1234; it failed: locked."},
		{func() RestoreRow {
			r := base
			r.Status, r.Mode = restore.InProgress, restore.Full
			return RestoreRow{Restore: r, Owner: &store.TenantName{Slug: &acme}}
		}(), "Someone is restoring acme's tenant backup of 26 Nov 2026 02:00 (FULL) for OPS-1234; it is still running."},
	} {
		if got := restoreSentence(tc.row, tc.row.StartedAt.Add(time.Hour)); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	// Started 17 days ago and never ended: not read as running.
	r := base
	r.Status, r.Mode, r.StartedAt = restore.InProgress, restore.Full, at
	if got, want := restoreSentence(RestoreRow{Restore: r, InitiatedBy: ana}, at.Add(17*24*time.Hour)),
		"it has reported nothing since it started, 17 days ago."; !strings.HasSuffix(got, want) {
		t.Errorf("a restore started 17 days ago: %q", got)
	}
}

func ptr[T any](v T) *T { return &v }
