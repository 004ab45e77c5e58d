package restore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/opt"
)

func TestWindow(t *testing.T) {
	from := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	to := from.Add(6 * time.Hour)
	w := Window{From: from, To: &to}
	cases := []struct {
		name   string
		target time.Time
		ok     bool
	}{
		{"the base backup's moment", from, true},
		{"the newest WAL's moment", to, true},
		{"in between", from.Add(time.Hour), true},
		{"a second before the base", from.Add(-time.Second), false},
		{"a second after the newest WAL", to.Add(time.Second), false},
	}
	for _, tc := range cases {
		errs := w.Check(tc.target)
		if (errs == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, errs)
		}
		if errs != nil && !strings.Contains(errs[0].Message, "2026-11-26T02:00:00Z to 2026-11-26T08:00:00Z") {
			t.Errorf("%s: the message does not state the window: %s", tc.name, errs[0].Message)
		}
	}
	if errs := (Window{From: from}).Check(from); errs == nil {
		t.Error("no WAL archive, yet a window")
	}
}

func TestValidate(t *testing.T) {
	ts := time.Now()
	a, b := uuid.New(), uuid.New()
	cases := []struct {
		name  string
		n     New
		field string // "" when valid
	}{
		{"full", New{Mode: Full, Reason: "drill"}, ""},
		{"merge", New{Mode: Merge, Reason: "r", TenantIDs: []uuid.UUID{a, b}}, ""},
		{"pitr", New{Mode: PITR, Reason: "r", TargetTimestamp: &ts}, ""},
		{"no reason", New{Mode: Full}, "reason"},
		{"blank reason", New{Mode: Full, Reason: " \t"}, "reason"},
		{"unknown mode", New{Mode: "SOME", Reason: "r"}, "restore_mode"},
		{"pitr without target", New{Mode: PITR, Reason: "r"}, "target_timestamp"},
		{"full with target", New{Mode: Full, Reason: "r", TargetTimestamp: &ts}, "target_timestamp"},
		{"merge without tenants", New{Mode: Merge, Reason: "r"}, "tenant_ids"},
		{"tenant twice", New{Mode: Merge, Reason: "r", TenantIDs: []uuid.UUID{a, a}}, "tenant_ids"},
	}
	for _, tc := range cases {
		errs := tc.n.Validate()
		switch {
		case tc.field == "" && len(errs) > 0:
			t.Errorf("%s: %v", tc.name, errs)
		case tc.field != "" && !errs.Has(tc.field):
			t.Errorf("%s: want an error on %s, got %v", tc.name, tc.field, errs)
		}
	}
}

func TestLifecycle(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	base := backup.Backup{ID: uuid.New(), Status: backup.InProgress}
	if _, err := (New{Mode: Full, Reason: "r"}).Start(uuid.New(), base, nil, t0); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("restoring a running backup: %v", err)
	}
	base.Status = backup.Verified
	r, err := New{Mode: Full, Reason: "r"}.Start(uuid.New(), base, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	done, err := r.Apply(Patch{Status: opt.Of(Completed), RowsRestored: opt.Of(int64(5))}, t0.Add(90*time.Second))
	if err != nil || *done.DurationSeconds != 90 || !done.CompletedAt.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("completing: %+v %v", done, err)
	}
	if _, err := done.Apply(Patch{Notes: opt.Of("x")}, t0); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("changing a finished restore: %v", err)
	}
	if _, err := r.Apply(Patch{Status: opt.Of(Failed)}, t0); err == nil {
		t.Error("FAILED without error_message")
	}
}
