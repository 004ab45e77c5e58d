package audit_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/audit"
)

// TestEntry: an entry says who, how, what, before and after; absent
// states and prefixes are null, not empty.
func TestEntry(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	actor := &audit.Actor{ID: uuid.New(), Name: "Ann"}
	for _, tc := range []struct {
		name          string
		by            audit.By
		ch            audit.Change
		prefix, objID bool
		before, after string
	}{
		// A creation through the API: no before.
		{"create", audit.By{Actor: actor, Via: audit.API, KeyPrefix: "bw_abcdefg"},
			audit.Change{Action: audit.TenantCreate, ObjectType: "tenant", ObjectID: "t1", After: map[string]string{"slug": "acme"}},
			true, true, "", `{"slug":"acme"}`},
		// A deletion from the command line: no actor, no key, no after.
		{"delete", audit.By{Via: audit.CLI}, audit.Change{Action: audit.BackupDelete, ObjectType: "backup", ObjectID: "b1", Before: map[string]int{"size_bytes": 1}},
			false, true, `{"size_bytes":1}`, ""},
		// An object without an id, and a typed nil state.
		{"routing", audit.By{Actor: actor, Via: audit.Console}, audit.Change{Action: audit.RoutingPut, ObjectType: "routing", Before: (*int)(nil), After: []string{}},
			false, false, "", `[]`},
	} {
		e, err := tc.by.Entry(tc.ch, now)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if e.Action != tc.ch.Action || e.Via != tc.by.Via || e.Actor != tc.by.Actor || !e.CreatedAt.Equal(now) || e.ID == uuid.Nil ||
			(e.KeyPrefix != nil) != tc.prefix || (e.ObjectID != nil) != tc.objID || string(e.Before) != tc.before || string(e.After) != tc.after {
			t.Errorf("%s: %+v", tc.name, e)
		}
	}
	if !audit.RoutingPut.Valid() || audit.Action("backup.destroy").Valid() {
		t.Error("Valid")
	}
}
