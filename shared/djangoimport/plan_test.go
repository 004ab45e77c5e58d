package djangoimport

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
)

func ptr[T any](v T) *T { return &v }

// TestMapID: a UUID is kept; any other id maps to one UUID, the same on
// every run, and different per kind.
func TestMapID(t *testing.T) {
	id := uuid.New()
	if MapID("tenant", id.String()) != id {
		t.Error("a UUID id was not kept")
	}
	first, again := MapID("user", "7"), MapID("user", "7")
	if first != again || first == MapID("user", "8") || first == MapID("tenant", "7") {
		t.Error("integer ids do not map one to one, stably and per kind")
	}
}

func completed(tenant string, at time.Time) SourceBackup {
	return SourceBackup{ID: uuid.New(), Type: "TENANT_BACKUP", TenantRef: ptr(tenant), Filename: "t.dump", SizeBytes: ptr(int64(10)),
		Checksum: ptr(strings.Repeat("a", 64)), R2Path: ptr("r2://b/t.dump"), B2Path: ptr(""), Status: "COMPLETED", CreatedAt: at}
}

// TestPlanDecides: Django's empty strings become null, rules skip rows with
// the rule, ids present are left alone, and of two open alerts of one
// condition the newer is kept even once backupwatch resolved it.
func TestPlanDecides(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	tenant := uuid.New()
	good := completed(tenant.String(), now.Add(-2*time.Hour))
	bad := completed(tenant.String(), now.Add(-time.Hour))
	bad.Checksum = ptr("")
	present := completed(tenant.String(), now.Add(-3*time.Hour))
	older := SourceAlert{ID: uuid.New(), Type: "SIZE_DEVIATION", Severity: "WARNING", Status: "ACTIVE", BackupID: &good.ID, CreatedAt: now.Add(-50 * time.Minute)}
	newer := SourceAlert{ID: uuid.New(), Type: "SIZE_DEVIATION", Severity: "WARNING", Status: "ACKNOWLEDGED", BackupID: &good.ID, CreatedAt: now.Add(-40 * time.Minute),
		Channels: []byte(`["IN-APP", "Email"]`)}
	src := Source{Backups: []SourceBackup{present, good, bad}, Alerts: []SourceAlert{older, newer},
		Tenants: map[string]SourceTenant{tenant.String(): {Name: "Acme", Slug: "acme"}}}
	dst := Target{Backups: map[uuid.UUID]backup.Backup{present.ID: {ID: present.ID, Type: backup.TenantBackup, TenantID: &tenant}}}

	p := NewPlan(src, dst, now)
	if c := p.Counts[0]; c.Read != 3 || c.Imported != 1 || c.Present != 1 || c.Skipped != 1 {
		t.Errorf("backups: %+v", c)
	}
	if len(p.Backups) != 1 || p.Backups[0].B2Path != nil || p.Backups[0].ID != good.ID {
		t.Errorf("imported %+v; want the good one, with b2_path null", p.Backups)
	}
	if len(p.Skipped) != 2 || !strings.Contains(p.Skipped[0].Rule, "checksum is required for a COMPLETED backup") ||
		!strings.Contains(p.Skipped[1].Rule, "at most one unresolved alert per condition") || p.Skipped[1].ID != older.ID.String() {
		t.Errorf("skipped %+v", p.Skipped)
	}
	if len(p.Alerts) != 1 || p.Alerts[0].ID != newer.ID || p.Alerts[0].Fingerprint != "SIZE_DEVIATION:TENANT_BACKUP:"+tenant.String() ||
		len(p.Alerts[0].Channels) != 2 || p.Alerts[0].Channels[0] != "in_app" || p.Alerts[0].Channels[1] != "email" {
		t.Errorf("alerts %+v", p.Alerts)
	}
	if len(p.Tenants) != 1 || p.Tenants[0].Slug != "acme" || p.Tenants[0].Name != "Acme" || p.MatchedTenants != 0 {
		t.Errorf("tenants %+v", p.Tenants)
	}

	// Imported, and the newer alert since resolved by a check run: a
	// second plan writes nothing, and still skips the older alert.
	dst.Backups[good.ID] = p.Backups[0]
	dst.Alerts = map[uuid.UUID]bool{newer.ID: true}
	dst.Tenants = map[uuid.UUID]bool{tenant: true}
	again := NewPlan(src, dst, now)
	if !again.Empty() || len(again.Skipped) != 2 {
		t.Errorf("second plan: %d tenants, %d backups, %d alerts, skipped %+v", len(again.Tenants), len(again.Backups), len(again.Alerts), again.Skipped)
	}
}
