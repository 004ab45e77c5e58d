package httpapi

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"

	"github.com/backupwatch/backupwatch/shared/auth"
)

// A route whose answer holds a secret shown once (POST /v1/api-keys: the
// new key, which the database keeps only hashed) stores its answer for
// Idempotency-Key sealed (Route.SealReplay): AES-256-GCM under a key
// derived from the caller's own API key and the Idempotency-Key. Neither
// is in the database (API keys are kept hashed), so a read of
// idempotency_keys does not give the secret away; a replay comes with both
// (Idempotency-Keys are scoped to the calling API key) and opens it.

// replayAEAD is the cipher that seals the stored answer to r with
// Idempotency-Key key.
func replayAEAD(r *http.Request, key string) (cipher.AEAD, error) {
	secret, ok := auth.FromHeader(r.Header.Get("Authorization"))
	if !ok {
		return nil, errors.New("sealing an idempotent answer: no API key in the request")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("backupwatch idempotent answer\x00" + key))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealReplay seals body, the answer to r, for Idempotency-Key key: a
// random nonce, then the sealed body.
func sealReplay(r *http.Request, key string, body []byte) ([]byte, error) {
	aead, err := replayAEAD(r, key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, body, nil), nil
}

// openReplay opens what sealReplay sealed for an earlier request with the
// same API key and Idempotency-Key key.
func openReplay(r *http.Request, key string, sealed []byte) ([]byte, error) {
	aead, err := replayAEAD(r, key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("opening an idempotent answer: too short")
	}
	body, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return nil, errors.New("opening an idempotent answer: it was sealed for another key")
	}
	return body, nil
}
