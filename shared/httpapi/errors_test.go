package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// TestErrorsNeverCarryTheDatabasesWords: whatever a store error holds (a
// PostgreSQL message, a constraint, a table), the answer's message says
// nothing of it; domain errors keep their own words.
func TestErrorsNeverCarryTheDatabasesWords(t *testing.T) {
	pg := &pgconn.PgError{Code: "40001", Message: `could not serialize access due to concurrent update on "backups_backup"`}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		// A serialization failure, as store's mapErr wraps it.
		{"serialization failure", fmt.Errorf("updating backup: %w: %s", store.ErrConflict, pg.Message), 409, "conflict"},
		// A unique constraint the API has no words for.
		{"unknown constraint", fmt.Errorf("inserting: %w", &store.ConflictError{Constraint: "backups_secret_idx"}), 409, "conflict"},
		// A driver error nothing maps: a bug.
		{"raw driver error", fmt.Errorf("listing: %w", &pgconn.PgError{Code: "42P01", Message: `relation "backups_backup" does not exist`}), 500, "internal"},
		// A statement cancelled by statement_timeout.
		{"statement timeout", fmt.Errorf("listing: %w", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}), 503, "unavailable"},
		{"deadline", fmt.Errorf("listing: %w", context.DeadlineExceeded), 503, "unavailable"},
	} {
		e := errorFrom(tc.err)
		if e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, e.Status, e.Code, tc.status, tc.code)
		}
		for _, leak := range []string{"serialize", "backups_", "relation", "canceling", "deadline", "updating", "listing"} {
			if strings.Contains(e.Message, leak) {
				t.Errorf("%s: the message %q says %q", tc.name, e.Message, leak)
			}
		}
	}
	// A domain error is the domain's sentence.
	frozen := fmt.Errorf("%w: size_bytes of a COMPLETED backup", backup.ErrFrozen)
	if e := errorFrom(frozen); e.Status != 409 || !strings.Contains(e.Message, "size_bytes of a COMPLETED backup") {
		t.Errorf("frozen: %d %q", e.Status, e.Message)
	}
	if !errors.Is(frozen, backup.ErrFrozen) {
		t.Fatal("unreachable")
	}
}
