package check_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
)

const gb = 1_000_000_000

var now = time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// policy is the FULL_DATABASE default of migration 005.
func policy() backup.Policy {
	return backup.Policy{Type: backup.FullDatabase, ExpectedIntervalSeconds: 86400, GraceSeconds: 7200,
		MaxDurationSeconds: 7200, SizeDeviationPercent: ptr[int64](50), MinHistory: 3, Enabled: true}
}

// history builds a daily series whose backups have the sizes given (oldest
// first, in GB), the newest made an hour before now, each taking 50 s.
func history(s backup.Series, slug string, gbs ...float64) backup.History {
	h := backup.History{Series: s, Tenant: slug}
	for i := len(gbs) - 1; i >= 0; i-- {
		age := time.Duration(len(gbs)-1-i)*24*time.Hour + time.Hour
		b := backup.Backup{ID: uuid.New(), Type: s.Type, TenantID: s.TenantID, Status: backup.Completed,
			Filename: fmt.Sprintf("b%02d.dump", i), SizeBytes: ptr(int64(gbs[i] * gb)), CreatedAt: now.Add(-age),
			DurationSeconds: ptr[int64](50)}
		h.Completed = append(h.Completed, b)
	}
	if len(h.Completed) > 0 {
		h.First = h.Completed[len(h.Completed)-1].CreatedAt
		h.LastFinished = backup.Completed
	}
	return h
}

var full = backup.Series{Type: backup.FullDatabase}

// TestSeriesState: the states of GET /v1/status.
func TestSeriesState(t *testing.T) {
	ok := history(full, "", 10, 10, 10)
	failing := ok
	failing.LastFinished = backup.Failed
	late := history(full, "", 10, 10, 10)
	for i := range late.Completed {
		late.Completed[i].CreatedAt = late.Completed[i].CreatedAt.Add(-26 * time.Hour)
	}
	tests := []struct {
		name string
		h    backup.History
		want check.State
	}{
		// Completed an hour ago, due daily: OK.
		{"ok", ok, check.OK},
		// Its newest finished backup failed: FAILING, even with older completed ones.
		{"failing", failing, check.Failing},
		// Nothing completed yet: NO_DATA.
		{"no data", backup.History{Series: full, First: now.Add(-time.Hour)}, check.NoData},
		// Past interval + grace: LATE.
		{"late", late, check.Late},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := check.SeriesState(tt.h, policy(), now); got != tt.want {
				t.Fatalf("%s, want %s", got, tt.want)
			}
		})
	}
}
