package backup_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
)

func ptr[T any](v T) *T { return &v }

// TestPolicyValidate: each rule of a policy's settings, one case each.
func TestPolicyValidate(t *testing.T) {
	ok := backup.Policy{ExpectedIntervalSeconds: 86400, GraceSeconds: 7200, MaxDurationSeconds: 7200,
		SizeDeviationPercent: ptr[int64](50), MinHistory: 3, Enabled: true,
		CopyGraceSeconds: backup.DefaultCopyGraceSeconds, FailureThreshold: 1}
	with := func(f func(*backup.Policy)) backup.Policy { p := ok; f(&p); return p }
	tests := []struct {
		name string
		p    backup.Policy
		want string // the fields with errors, comma-separated
	}{
		// The defaults of DESIGN.md are valid.
		{"default", ok, ""},
		// The 1.1 rules switched on, at their edges.
		{"deeper rules on", with(func(p *backup.Policy) {
			p.RequiredLocations, p.CopyGraceSeconds = []backup.Location{backup.R2, backup.B2}, 0
			p.MaxUnverifiedSeconds, p.MinVerifiedFulls, p.RestoreTestIntervalSeconds = ptr[int64](1), ptr[int64](1), ptr[int64](backup.MaxPolicySeconds)
			p.FailureThreshold = backup.MaxFailureThreshold
		}), ""},
		// failure_threshold is at least 1; copy_grace_seconds at least 0.
		{"threshold 0", with(func(p *backup.Policy) { p.FailureThreshold = 0 }), "failure_threshold"},
		{"negative copy grace", with(func(p *backup.Policy) { p.CopyGraceSeconds = -1 }), "copy_grace_seconds"},
		// A location that does not exist, or one named twice.
		{"unknown location", with(func(p *backup.Policy) { p.RequiredLocations = []backup.Location{"s3"} }), "required_locations"},
		{"location twice", with(func(p *backup.Policy) { p.RequiredLocations = []backup.Location{"b2", "b2"} }), "required_locations"},
		// Off is null, never 0.
		{"zero verified fulls", with(func(p *backup.Policy) { p.MinVerifiedFulls = ptr[int64](0) }), "min_verified_fulls"},
		// pitr_window_seconds is the WAL series' alone.
		{"pitr on a full backup", with(func(p *backup.Policy) { p.Type, p.PITRWindowSeconds = backup.FullDatabase, ptr[int64](86400) }), "pitr_window_seconds"},
		{"pitr on WAL", with(func(p *backup.Policy) { p.Type, p.PITRWindowSeconds = backup.WALArchive, ptr[int64](86400) }), ""},
		// Grace may be zero; the size rule may be off; min_history 1 and 14 are the ends.
		{"edges", with(func(p *backup.Policy) { p.GraceSeconds, p.SizeDeviationPercent, p.MinHistory = 0, nil, 14 }), ""},
		// Intervals are positive, and at most a year.
		{"zero interval", with(func(p *backup.Policy) { p.ExpectedIntervalSeconds = 0 }), "expected_interval_seconds"},
		{"interval over a year", with(func(p *backup.Policy) { p.ExpectedIntervalSeconds = backup.MaxPolicySeconds + 1 }), "expected_interval_seconds"},
		{"negative grace", with(func(p *backup.Policy) { p.GraceSeconds = -1 }), "grace_seconds"},
		{"zero max duration", with(func(p *backup.Policy) { p.MaxDurationSeconds = 0 }), "max_duration_seconds"},
		// A deviation percentage from 1 to 1000.
		{"zero percent", with(func(p *backup.Policy) { p.SizeDeviationPercent = ptr[int64](0) }), "size_deviation_percent"},
		{"percent 1001", with(func(p *backup.Policy) { p.SizeDeviationPercent = ptr[int64](1001) }), "size_deviation_percent"},
		// min_history from 1 to 14 (the baseline is at most 14 backups).
		{"min_history 0", with(func(p *backup.Policy) { p.MinHistory = 0 }), "min_history"},
		{"min_history 15", with(func(p *backup.Policy) { p.MinHistory = 15 }), "min_history"},
		// Every broken field is reported, not only the first.
		{"several", with(func(p *backup.Policy) { p.ExpectedIntervalSeconds, p.MinHistory = -5, 99 }), "expected_interval_seconds,min_history"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, fe := range tt.p.Validate() {
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != tt.want {
				t.Fatalf("errors on %v, want %q", got, tt.want)
			}
		})
	}
}

// TestStorageTargetValidate: percents 1 to 100, warn below critical, a
// positive capacity or none.
func TestStorageTargetValidate(t *testing.T) {
	tests := []struct {
		name           string
		capacity       *int64
		warn, critical int64
		want           string
	}{
		{"defaults without capacity", nil, 80, 95, ""},
		{"with capacity", ptr[int64](5e12), 1, 100, ""},
		{"zero capacity", ptr[int64](0), 80, 95, "capacity_bytes"},
		{"warn 0", nil, 0, 95, "warn_percent"},
		{"critical 101", nil, 80, 101, "critical_percent"},
		// Equal levels would make the warning pointless.
		{"warn equals critical", nil, 90, 90, "warn_percent"},
		{"warn above critical", nil, 96, 95, "warn_percent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := backup.StorageTarget{Name: backup.R2, CapacityBytes: tt.capacity, WarnPercent: tt.warn, CriticalPercent: tt.critical}.Validate()
			var got []string
			for _, fe := range errs {
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != tt.want {
				t.Fatalf("errors on %v, want %q", got, tt.want)
			}
		})
	}
}

// TestEffectivePolicy: a tenant's override wins over its type's default;
// other tenants and tenant-less series get the default.
func TestEffectivePolicy(t *testing.T) {
	acme, globex := uuid.New(), uuid.New()
	def := backup.Policy{Type: backup.TenantBackup, ExpectedIntervalSeconds: 604800}
	over := backup.Policy{Type: backup.TenantBackup, TenantID: &acme, ExpectedIntervalSeconds: 86400}
	full := backup.Policy{Type: backup.FullDatabase, ExpectedIntervalSeconds: 3600}
	ps := []backup.Policy{over, def, full}
	tests := []struct {
		name string
		s    backup.Series
		want int64 // interval of the policy found; 0: none
	}{
		{"override", backup.Series{Type: backup.TenantBackup, TenantID: &acme}, 86400},
		{"another tenant", backup.Series{Type: backup.TenantBackup, TenantID: &globex}, 604800},
		{"tenant-less", backup.Series{Type: backup.FullDatabase}, 3600},
		{"no policy for the type", backup.Series{Type: backup.WALArchive}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := backup.EffectivePolicy(ps, tt.s)
			if ok != (tt.want != 0) || p.ExpectedIntervalSeconds != tt.want {
				t.Fatalf("%v %d, want %d", ok, p.ExpectedIntervalSeconds, tt.want)
			}
		})
	}
}
