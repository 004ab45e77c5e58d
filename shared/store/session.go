package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/auth"
)

// Console sessions (migration 020): a signed-in browser acts as the API key
// it signed in with. Sessions are read and written in the all-tenants
// scope, like the key lookup, since the key decides the scope.

// Session is a console session as its lookup finds it: who it acts as and
// the token its forms carry.
type Session struct {
	Who      auth.Principal
	CSRF     string
	LastSeen time.Time
}

// CreateSession stores a session for key keyID, known by the hash of its
// token, and deletes the sessions that have been idle past idle.
func CreateSession(ctx context.Context, pool Beginner, tokenHash []byte, keyID uuid.UUID, csrf string, now time.Time, idle time.Duration) error {
	return InScope(ctx, pool, AllTenants, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE last_seen_at < $1`, now.Add(-idle)); err != nil {
			return fmt.Errorf("deleting idle sessions: %w", mapErr(err))
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_sessions (token_hash, key_id, csrf_token, created_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $4)`, tokenHash, keyID, csrf, now)
		if err != nil {
			return fmt.Errorf("creating a console session: %w", mapErr(err))
		}
		return nil
	})
}

// sessionSQL finds a session that has not been idle past its limit and
// whose key is not revoked: a revoked key ends its sessions at once.
const sessionSQL = `SELECT k.id, k.user_id, k.role, k.tenant_id, k.prefix, u.name, s.token_hash, s.csrf_token, s.last_seen_at
	FROM console_sessions s JOIN api_keys k ON k.id = s.key_id AND k.revoked_at IS NULL
	JOIN users u ON u.id = k.user_id
	WHERE s.token_hash = $1 AND s.last_seen_at >= $2`

// LookupSession returns the live session whose token hashes to tokenHash
// (ErrNotFound: none, idle past idle, or its key revoked). One batch, one
// round trip: the all-tenants scope, then the lookup.
func LookupSession(ctx context.Context, db DB, tokenHash []byte, now time.Time, idle time.Duration) (Session, error) {
	var (
		b      pgx.Batch
		s      Session
		stored []byte
	)
	queueScope(&b, AllTenants, 0)
	b.Queue(sessionSQL, tokenHash, now.Add(-idle)).QueryRow(func(r pgx.Row) error {
		return r.Scan(&s.Who.KeyID, &s.Who.UserID, &s.Who.Role, &s.Who.Tenant, &s.Who.KeyPrefix, &s.Who.UserName,
			&stored, &s.CSRF, &s.LastSeen)
	})
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return s, fmt.Errorf("looking up a console session: %w", mapErr(err))
	}
	if subtle.ConstantTimeCompare(stored, tokenHash) != 1 {
		return s, fmt.Errorf("looking up a console session: %w", ErrNotFound)
	}
	return s, nil
}

// TouchSession records that the session was used at now, which keeps it
// from going idle.
func TouchSession(ctx context.Context, pool Beginner, tokenHash []byte, now time.Time) error {
	return InScope(ctx, pool, AllTenants, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE console_sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2`, tokenHash, now)
		if err != nil {
			return fmt.Errorf("touching a console session: %w", mapErr(err))
		}
		return nil
	})
}

// DeleteSession ends the session whose token hashes to tokenHash (signing
// out); ending one that is gone already is no error.
func DeleteSession(ctx context.Context, pool Beginner, tokenHash []byte) error {
	return InScope(ctx, pool, AllTenants, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE token_hash = $1`, tokenHash); err != nil {
			return fmt.Errorf("ending a console session: %w", mapErr(err))
		}
		return nil
	})
}

// SessionCheck is a session lookup queued on a batch (QueueSessionCheck):
// Found and Session are set once the batch is sent.
type SessionCheck struct {
	Session Session
	Found   bool
	Read    bool // the lookup ran: a batch that failed before it leaves this false
}

// QueueSessionCheck queues LookupSession's read on b, to be sent in the
// all-tenants scope (where sessions are read) ahead of what else b holds:
// a console page checks its session in its first round trip.
func QueueSessionCheck(b *pgx.Batch, tokenHash []byte, now time.Time, idle time.Duration) *SessionCheck {
	out := &SessionCheck{}
	b.Queue(sessionSQL, tokenHash, now.Add(-idle)).QueryRow(func(r pgx.Row) error {
		var stored []byte
		s := &out.Session
		err := r.Scan(&s.Who.KeyID, &s.Who.UserID, &s.Who.Role, &s.Who.Tenant, &s.Who.KeyPrefix, &s.Who.UserName,
			&stored, &s.CSRF, &s.LastSeen)
		if errors.Is(err, pgx.ErrNoRows) {
			out.Read = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking up a console session: %w", mapErr(err))
		}
		out.Read = true
		out.Found = subtle.ConstantTimeCompare(stored, tokenHash) == 1
		return nil
	})
	return out
}

// QueueScope queues on b the setting of the transaction's scope to s (as
// InScope begins with), for a transaction that began in a wider one.
func QueueScope(b *pgx.Batch, s Scope) { queueScope(b, s, 0) }
