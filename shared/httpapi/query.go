package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/store"
)

// cursorKey seals cursors so that a tampered one is refused (400) rather
// than read as some other position. Cursors only ever name a position in a
// list the caller may read, so the key guards integrity, not secrecy.
var cursorKey = []byte("backupwatch cursor v1")

const cursorLen = 8 + 16 + 8 // time, id, seal

func seal(payload []byte) []byte {
	h := sha256.New()
	h.Write(cursorKey)
	h.Write(payload)
	return h.Sum(nil)[:8]
}

func encodeCursor(c store.Cursor) string {
	b := make([]byte, 0, cursorLen)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UnixMicro()))
	b = append(b, c.ID[:]...)
	b = append(b, seal(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses a cursor made by encodeCursor; ok is false for
// anything else.
func decodeCursor(s string) (store.Cursor, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != cursorLen {
		return store.Cursor{}, false
	}
	payload, mac := b[:24], b[24:]
	if string(seal(payload)) != string(mac) {
		return store.Cursor{}, false
	}
	var c store.Cursor
	c.Time = time.UnixMicro(int64(binary.BigEndian.Uint64(payload[:8]))).UTC()
	copy(c.ID[:], payload[8:24])
	return c, true
}

// query reads a request's query parameters, gathering 400s for values that
// cannot be parsed and 422s for values that parse but break a rule.
type query struct {
	v url.Values
}

func newQuery(r *http.Request) query { return query{v: r.URL.Query()} }

func (q query) get(name string) string { return strings.TrimSpace(q.v.Get(name)) }

// page reads limit and cursor.
func (q query) page() (store.Page, error) {
	p := store.Page{Limit: 50}
	if s := q.get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, badRequest("limit must be a number")
		}
		if n < 1 || n > 500 {
			return p, invalidField("limit", "must be between 1 and 500")
		}
		p.Limit = n
	}
	if s, ok := q.v["cursor"]; ok {
		c, ok := decodeCursor(strings.TrimSpace(s[0]))
		if !ok {
			return p, badRequest("cursor is not valid: pass next_cursor from the previous page unchanged")
		}
		p.After = &c
	}
	return p, nil
}

func (q query) uuid(name string) (*uuid.UUID, error) {
	s := q.get(name)
	if s == "" {
		return nil, nil
	}
	id, ok := parseUUID(s)
	if !ok {
		return nil, badRequest("%s must be a UUID", name)
	}
	return &id, nil
}

func (q query) time(name string) (*time.Time, error) {
	s := q.get(name)
	if s == "" {
		return nil, nil
	}
	t, ok := parseTime(s)
	if !ok {
		return nil, badRequest("%s must be an RFC 3339 timestamp with a zone", name)
	}
	return &t, nil
}

// enums reads a comma-separated list of enum values, each checked by valid.
func enums[T ~string](q query, name string, valid func(T) bool, allowed string) ([]T, error) {
	s := q.get(name)
	if s == "" {
		return nil, nil
	}
	var out []T
	for _, part := range strings.Split(s, ",") {
		v := T(strings.TrimSpace(part))
		if !valid(v) {
			return nil, invalidField(name, "must be one of "+allowed)
		}
		out = append(out, v)
	}
	return out, nil
}

// pathID reads the {id} path parameter; an id that is not a UUID cannot
// name anything, so it is a 404 like any other unknown id.
func pathID(r *http.Request, what string) (uuid.UUID, error) {
	id, ok := parseUUID(r.PathValue("id"))
	if !ok {
		return uuid.UUID{}, notFound(what)
	}
	return id, nil
}

// timeRange reads a pair of RFC 3339 bounds, such as created_after and
// created_before.
func (q query) timeRange(after, before string) (*time.Time, *time.Time, error) {
	a, err := q.time(after)
	if err != nil {
		return nil, nil, err
	}
	b, err := q.time(before)
	return a, b, err
}
