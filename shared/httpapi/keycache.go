package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/store"
)

// KeyCacheTTL is how long a process trusts what it read of an API key. A
// key revoked elsewhere is refused by every process within this time; the
// process that revoked it refuses it at once (keyCache.forget). It spares
// every request a lookup, so that a backup report is one round trip
// (bench/README.md, ingest).
const KeyCacheTTL = 10 * time.Second

// maxCachedKeys bounds the cache's memory; past it, expired entries go,
// and if none has, the cache starts afresh. Only keys that exist are kept,
// so made-up keys cannot fill it.
const maxCachedKeys = 100_000

// keyCache remembers, per process, who holds each key recently seen.
type keyCache struct {
	mu   sync.Mutex
	keys map[[32]byte]cachedKey
}

type cachedKey struct {
	who  auth.Principal
	read time.Time
}

// lookup returns who holds the key whose hash is hash, from the cache when
// read less than KeyCacheTTL ago, else from the database (through db). An
// unknown or revoked key is store.ErrNotFound.
func (k *keyCache) lookup(ctx context.Context, db store.DB, hash []byte, now time.Time) (auth.Principal, error) {
	var h [32]byte
	copy(h[:], hash)
	k.mu.Lock()
	e, ok := k.keys[h]
	k.mu.Unlock()
	if ok && now.Sub(e.read) < KeyCacheTTL && !now.Before(e.read) {
		return e.who, nil
	}
	who, err := store.LookupKey(ctx, db, hash)
	if err != nil {
		return who, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[[32]byte]cachedKey{}
	}
	if len(k.keys) >= maxCachedKeys {
		for h, e := range k.keys {
			if now.Sub(e.read) >= KeyCacheTTL {
				delete(k.keys, h)
			}
		}
		if len(k.keys) >= maxCachedKeys {
			clear(k.keys)
		}
	}
	k.keys[h] = cachedKey{who: who, read: now}
	return who, nil
}

// forget drops key id from the cache: it was revoked in this process.
func (k *keyCache) forget(id uuid.UUID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for h, e := range k.keys {
		if e.who.KeyID == id {
			delete(k.keys, h)
		}
	}
}
