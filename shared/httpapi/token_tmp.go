package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// TEMPORARY (checks branch): minimal sealToken and openToken on the
// constant cursorKey, so that the status cursor compiles and is
// tamper-evident before the lead's per-deployment secret lands. The lead
// deletes this file at merge, in favour of query.go's versions.

// tokenMACLen is how much of the HMAC a sealed token carries.
const tokenMACLen = 16

// sealToken returns payload with its seal, as URL-safe base64.
func (s *Server) sealToken(payload []byte) string {
	m := hmac.New(sha256.New, cursorKey)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(append(append([]byte{}, payload...), m.Sum(nil)[:tokenMACLen]...))
}

// openToken returns the payload of a token made by sealToken; ok is false
// for anything else (edited, made with another key, not base64).
func (s *Server) openToken(tok string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < tokenMACLen {
		return nil, false
	}
	payload, mac := b[:len(b)-tokenMACLen], b[len(b)-tokenMACLen:]
	m := hmac.New(sha256.New, cursorKey)
	m.Write(payload)
	if !hmac.Equal(mac, m.Sum(nil)[:tokenMACLen]) {
		return nil, false
	}
	return payload, true
}
