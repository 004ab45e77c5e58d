package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/google/uuid"
)

// Stored is the first response to a request sent with an Idempotency-Key.
type Stored struct {
	RequestHash []byte
	Status      int
	Body        []byte
}

// LockIdempotencyKey takes a transaction-level lock on (apiKey, key) without
// waiting; ok is false when another transaction holds it, that is, when the
// first request with this key is still running.
func LockIdempotencyKey(ctx context.Context, db DB, apiKey uuid.UUID, key string) (ok bool, err error) {
	h := fnv.New64a()
	h.Write(apiKey[:])
	h.Write([]byte(key))
	id := int64(binary.BigEndian.Uint64(h.Sum(nil)))
	if err := db.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("locking idempotency key: %w", mapErr(err))
	}
	return ok, nil
}

// GetIdempotent returns the stored response for (apiKey, key), or ErrNotFound.
func GetIdempotent(ctx context.Context, db DB, apiKey uuid.UUID, key string) (Stored, error) {
	var s Stored
	err := db.QueryRow(ctx, `SELECT request_hash, response_status, response_body FROM idempotency_keys
		WHERE api_key_id = $1 AND key = $2`, apiKey, key).Scan(&s.RequestHash, &s.Status, &s.Body)
	if err != nil {
		return s, fmt.Errorf("getting idempotency key: %w", mapErr(err))
	}
	return s, nil
}

// PutIdempotent stores the response to the first request with (apiKey, key).
func PutIdempotent(ctx context.Context, db DB, apiKey uuid.UUID, tenant *uuid.UUID, key string, s Stored) error {
	_, err := db.Exec(ctx, `INSERT INTO idempotency_keys (api_key_id, key, tenant_id, request_hash, response_status, response_body)
		VALUES ($1, $2, $3, $4, $5, $6)`, apiKey, key, tenant, s.RequestHash, s.Status, s.Body)
	if err != nil {
		return fmt.Errorf("storing idempotency key: %w", mapErr(err))
	}
	return nil
}

const purgeIdempotencySQL = `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)`
