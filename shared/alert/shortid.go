package alert

import (
	"encoding/base64"

	"github.com/google/uuid"
)

// ShortID is an alert's id in 22 URL-safe characters: what the console's
// short link (/console/a/<ShortID>) carries, so that an SMS has room for it.
func ShortID(id uuid.UUID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseShortID reads what ShortID wrote; ok is false for anything else.
func ParseShortID(s string) (uuid.UUID, bool) {
	var id uuid.UUID
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}
