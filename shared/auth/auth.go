// Package auth owns API keys and roles: how a key is made, stored, recognised
// and what each role may do. It does no I/O.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
)

// Role is what a key may do.
type Role string

// The roles.
const (
	Job      Role = "job"      // backup jobs: report and verify backups, record restores
	Operator Role = "operator" // people on call: read, acknowledge and resolve alerts, restores
	Admin    Role = "admin"    // everything
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == Job || r == Operator || r == Admin }

// Principal is the caller a request runs as.
type Principal struct {
	KeyID  uuid.UUID
	UserID uuid.UUID
	Role   Role
	Tenant *uuid.UUID // nil: every tenant
	// KeyPrefix is the start of the key, shown to tell keys apart, and
	// UserName the name of the user the key acts for: what an audit entry
	// says of who made a change.
	KeyPrefix string
	UserName  string
}

// Scoped reports whether the principal is limited to one tenant.
func (p Principal) Scoped() bool { return p.Tenant != nil }

// Sees reports whether a row of tenant t is in the principal's scope.
func (p Principal) Sees(t *uuid.UUID) bool {
	if p.Tenant == nil {
		return true
	}
	return t != nil && *t == *p.Tenant
}

const (
	keyPrefix  = "bw_"
	secretLen  = 32 // bytes of entropy
	prefixLen  = 10 // characters of the key kept in clear to tell keys apart
	minKeyLen  = 32
	maxKeyLen  = 256
	displayLen = prefixLen
)

// NewKey returns a new random key ("bw_" and 43 URL-safe characters).
func NewKey() string {
	b := make([]byte, secretLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Hash is what the database stores of a key.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// Prefix is the part of a key shown in listings.
func Prefix(key string) string {
	if len(key) <= displayLen {
		return key
	}
	return key[:displayLen]
}

// WellFormed reports whether s could be a key at all: printable ASCII of a
// plausible length. Anything else is refused without a database lookup.
func WellFormed(s string) bool {
	if len(s) < minKeyLen || len(s) > maxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// FromHeader extracts the key from an Authorization header value
// ("Bearer <key>"); ok is false when the header is absent or malformed.
func FromHeader(h string) (key string, ok bool) {
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	key = strings.TrimSpace(h[len(scheme):])
	return key, WellFormed(key)
}
