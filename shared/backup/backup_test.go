package backup

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/opt"
	"github.com/backupwatch/backupwatch/shared/validation"
)

func TestCanTransition(t *testing.T) {
	cases := []struct {
		from, to Status
		want     Reason
	}{
		{InProgress, Completed, Allowed},       // a job finishing
		{InProgress, Failed, Allowed},          // a job failing
		{InProgress, Verified, VerifyOnly},     // skipping verification
		{Completed, Verified, VerifyOnly},      // only /verify verifies
		{Completed, Failed, NotFromStatus},     // a completed backup cannot fail later
		{Completed, InProgress, NotFromStatus}, // no going back
		{Failed, Completed, FromFinal},         // FAILED is final
		{Verified, Completed, FromFinal},       // so is VERIFIED
		{Completed, Completed, SameStatus},     // a retried completion is refused
		{InProgress, "DONE", UnknownStatus},
	}
	for _, tc := range cases {
		if got := CanTransition(tc.from, tc.to); got != tc.want {
			t.Errorf("%s -> %s: %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestApply(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	sum := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	running := New{Type: FullDatabase, Filename: "f"}.Build([16]byte{1}, nil, t0)
	size := int64(10)
	path := "/b/f"
	done := running
	done.Status, done.SizeBytes, done.Checksum, done.LocalPath, done.Notes = Completed, &size, &sum, &path, "ok"

	// Completing stamps the duration from created_at when the job gave none.
	got, err := running.Apply(Patch{Status: opt.Of(Completed), SizeBytes: opt.Of(size), Checksum: opt.Of(sum), LocalPath: opt.Of(path)}, t0.Add(812*time.Second))
	if err != nil || got.DurationSeconds == nil || *got.DurationSeconds != 812 {
		t.Fatalf("completion: %v %v", got.DurationSeconds, err)
	}
	// Completing without what COMPLETED needs names each missing field.
	_, err = running.Apply(Patch{Status: opt.Of(Completed)}, t0)
	var ve validation.Errors
	if !errors.As(err, &ve) || len(ve) != 3 {
		t.Fatalf("incomplete completion: %v", err)
	}
	// A finished backup's measured fields are frozen...
	if _, err := done.Apply(Patch{SizeBytes: opt.Of(int64(11))}, t0); !errors.Is(err, ErrFrozen) {
		t.Errorf("changing size: %v", err)
	}
	// ...unless the value is the same (an idempotent retry)...
	if _, err := done.Apply(Patch{SizeBytes: opt.Of(size)}, t0); err != nil {
		t.Errorf("same size: %v", err)
	}
	// ...and notes may only grow.
	if _, err := done.Apply(Patch{Notes: opt.Of("ok, restore-tested")}, t0); err != nil {
		t.Errorf("appending notes: %v", err)
	}
	if _, err := done.Apply(Patch{Notes: opt.Of("rewritten")}, t0); !errors.Is(err, ErrFrozen) {
		t.Errorf("rewriting notes: %v", err)
	}
	// A refused transition says which status stands in the way.
	failed := done
	failed.Status = Failed
	for _, c := range []struct {
		from Backup
		to   Status
		want string
	}{
		{failed, Completed, "FAILED → COMPLETED: FAILED is final"},
		{failed, InProgress, "FAILED → IN_PROGRESS: FAILED is final"},
		{done, Verified, "COMPLETED → VERIFIED: VERIFIED can only be reached through verify"},
		{done, InProgress, "COMPLETED → IN_PROGRESS: IN_PROGRESS cannot be reached from the current status"},
	} {
		_, err := c.from.Apply(Patch{Status: opt.Of(c.to)}, t0)
		if !errors.Is(err, ErrInvalidTransition) || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%s → %s: %v, want …%q", c.from.Status, c.to, err, c.want)
		}
	}
}

func TestCheckMetadata(t *testing.T) {
	cases := []struct {
		md string
		ok bool
	}{
		{`{}`, true},
		{`{"a":{"b":[1,{"c":2}]}}`, true},
		{`{"s":"{{{{[[[["}`, true}, // brackets inside strings do not nest
		{`{"s":"\\u0000"}`, true},  // an escaped backslash, not a NUL
		{`{"s":"\u0000"}`, false},  // PostgreSQL cannot store NUL
		{`[1]`, false},             // must be an object
		{`"x"`, false},             // must be an object
		{deep(33), false},          // too deep
		{deep(31), true},           // deep but fine
	}
	for _, tc := range cases {
		var errs validation.Errors
		CheckMetadata(&errs, "metadata", []byte(tc.md))
		if (len(errs) == 0) != tc.ok {
			t.Errorf("%.40s: %v", tc.md, errs)
		}
	}
}

func deep(n int) string {
	s := ""
	for i := 0; i < n; i++ {
		s += `{"a":`
	}
	s += "1"
	for i := 0; i < n; i++ {
		s += "}"
	}
	return s
}
