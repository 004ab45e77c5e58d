package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Cursors are sealed with an HMAC under the deployment's cursor secret
// (API.md 1.1), so that an edited cursor, or one made by another deployment,
// is refused (400) rather than read as some other position. Cursors only
// ever name a position in a list the caller may read, so the seal guards
// integrity, not secrecy.
const sealLen = 16

// cursorKeys holds the seal key: the configured one, or the deployment's
// stored secret, loaded once on first need.
type cursorKeys struct {
	mu  sync.Mutex
	key []byte
}

// load returns the seal key, reading (or creating) the deployment's secret
// the first time.
func (k *cursorKeys) load(ctx context.Context, db store.DB) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key == nil {
		key, err := store.DeploymentSecret(ctx, db, "cursor")
		if err != nil {
			return nil, err
		}
		k.key = key
	}
	return k.key, nil
}

func (k *cursorKeys) loaded() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key == nil {
		panic("httpapi: cursor key used before it was loaded")
	}
	return k.key
}

// sealToken returns payload with its seal under key, as URL-safe base64. A
// route that seals or opens with the deployment's key must list "cursor"
// in its Params, which loads the key before the handler.
func sealToken(key, payload []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(payload)[:len(payload)+sealLen])
}

// openToken returns the payload of a token made by sealToken with key; ok
// is false for anything else.
func openToken(key []byte, tok string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < sealLen {
		return nil, false
	}
	payload, seal := b[:len(b)-sealLen], b[len(b)-sealLen:]
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	if !hmac.Equal(mac.Sum(nil)[:sealLen], seal) {
		return nil, false
	}
	return payload, true
}

func (s *Server) encodeCursor(c store.Cursor) string { return EncodeCursor(s.cursors.loaded(), c) }

// EncodeCursor is the cursor the API hands out for position c when its
// cursor secret is secret (for the benchmarks, which make cursors to
// measure deep pages).
func EncodeCursor(secret []byte, c store.Cursor) string {
	b := make([]byte, 0, 25)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UnixMicro()))
	b = append(b, c.ID[:]...)
	if c.Rest {
		b = append(b, 1) // the console's alert queue, its second part
	}
	return sealToken(secret, b)
}

// EncodeStatusCursor is the cursor GET /v1/status hands out for position p
// when its cursor secret is secret (the console's series page pages the
// same way).
func EncodeStatusCursor(secret []byte, p check.StatusPosition) string {
	return sealToken(secret, p.Encode())
}

// DecodeStatusCursor reads a cursor made by EncodeStatusCursor with
// secret; ok is false for anything else.
func DecodeStatusCursor(secret []byte, tok string) (check.StatusPosition, bool) {
	payload, ok := openToken(secret, tok)
	if !ok {
		return check.StatusPosition{}, false
	}
	return check.DecodeStatusPosition(payload)
}

// decodeCursor parses a cursor made by encodeCursor; ok is false for
// anything else.
func (s *Server) decodeCursor(tok string) (store.Cursor, bool) {
	c, ok := DecodeCursor(s.cursors.loaded(), tok)
	return c, ok && !c.Rest // the console's alert queue's, not a list's
}

// DecodeCursor reads a cursor made by EncodeCursor with secret; ok is false
// for anything else (an edited cursor, or one sealed with another secret).
func DecodeCursor(secret []byte, tok string) (store.Cursor, bool) {
	payload, ok := openToken(secret, tok)
	if !ok || (len(payload) != 24 && (len(payload) != 25 || payload[24] != 1)) {
		return store.Cursor{}, false
	}
	c := store.Cursor{Rest: len(payload) == 25}
	c.Time = time.UnixMicro(int64(binary.BigEndian.Uint64(payload[:8]))).UTC()
	copy(c.ID[:], payload[8:24])
	return c, true
}

// query reads a request's query parameters, gathering 400s for values that
// cannot be parsed and 422s for values that parse but break a rule.
type query struct {
	v url.Values
	s *Server
}

// newQuery reads r's query string. The route's wrapper (checkParams) has
// already refused one that cannot be parsed, so a parse error cannot occur
// here.
func (s *Server) newQuery(r *http.Request) query {
	v, _ := url.ParseQuery(r.URL.RawQuery)
	return query{v: v, s: s}
}

// checkParams refuses a query string that cannot be parsed, a parameter the
// route does not know, and a parameter given twice, naming it (400
// bad_request, API.md 1.1): a typo such as ?statuss=FAILED must never
// silently list everything.
func checkParams(raw string, known []string) error {
	seen := map[string]bool{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return badRequest("the query string cannot be parsed: bad percent-encoding in the name %q", rawName)
		}
		if _, err := url.QueryUnescape(rawValue); err != nil {
			return badRequest("the query parameter %s cannot be parsed: bad percent-encoding", name)
		}
		switch {
		case !slices.Contains(known, name):
			if len(known) == 0 {
				return badRequest("unknown query parameter %q: this route takes none", name)
			}
			return badRequest("unknown query parameter %q: this route takes %s", name, strings.Join(known, ", "))
		case seen[name]:
			return badRequest("the query parameter %s is given twice", name)
		}
		seen[name] = true
	}
	return nil
}

func (q query) get(name string) string { return strings.TrimSpace(q.v.Get(name)) }

// page reads limit and cursor.
func (q query) page() (store.Page, error) {
	p := store.Page{Limit: 50, MaxBytes: MaxResponse}
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
		c, ok := q.s.decodeCursor(strings.TrimSpace(s[0]))
		if !ok {
			return p, badRequest("cursor is not valid: pass next_cursor from the previous page unchanged")
		}
		p.After = &c
	}
	return p, nil
}

func (q query) uuid(name string) (*uuid.UUID, error) {
	return optional(q, name, "must be a UUID", parseUUID)
}

func (q query) time(name string) (*time.Time, error) {
	return optional(q, name, "must be an RFC 3339 timestamp with a zone, e.g. 2026-11-26T22:34:15Z", parseTime)
}

// optional reads parameter name with parse: nil when absent, and 422 on
// name, saying msg, when parse refuses it (API.md 1.1: a value that breaks
// the parameter's rule).
func optional[T any](q query, name, msg string, parse func(string) (T, bool)) (*T, error) {
	s := q.get(name)
	if s == "" {
		return nil, nil
	}
	v, ok := parse(s)
	if !ok {
		return nil, invalidField(name, msg)
	}
	return &v, nil
}

// oneOf is a domain's list of values as an enum filter's refusal lists
// them ("A, B, C"), so that a value added to the list is named at once.
func oneOf[T ~string](all []T) string {
	ss := make([]string, len(all))
	for i, v := range all {
		ss[i] = string(v)
	}
	return strings.Join(ss, ", ")
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

// search reads q (API.md 1.1): at least 3 characters after trimming, with 3
// letters or digits in a row somewhere in it, at most 200 bytes. A shorter
// or symbol-only q would match through no trigram and read the whole
// table, so it is refused rather than served slowly.
func (q query) search() (string, error) {
	s := q.get("q")
	switch {
	case s == "" && !q.v.Has("q"):
		return "", nil
	case len(s) > 200 || !validText(s):
		return "", invalidField("q", "must be valid text of at most 200 bytes")
	case utf8.RuneCountInString(s) < 3 || !hasAlnumRun(s, 3):
		return "", invalidField("q", "must have at least 3 characters, 3 letters or digits in a row among them")
	}
	return s, nil
}

// hasAlnumRun reports whether s has n letters or digits in a row.
func hasAlnumRun(s string, n int) bool {
	run := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if run++; run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// The filters of version 1.1 (API.md 1.1, "More filters, search and
// counts"): a value that breaks the parameter's rule is 422 on it.

// boolean reads true or false.
func (q query) boolean(name string) (*bool, error) {
	switch q.get(name) {
	case "":
		return nil, nil
	case "true":
		t := true
		return &t, nil
	case "false":
		f := false
		return &f, nil
	}
	return nil, invalidField(name, "must be true or false")
}

// size reads a size in bytes: a whole number from 0.
func (q query) size(name string) (*int64, error) {
	return optional(q, name, "must be a whole number of bytes, from 0", func(s string) (int64, bool) {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= 0 && !strings.HasPrefix(s, "+")
	})
}

// date reads a UTC year, month or day (YYYY, YYYY-MM, YYYY-MM-DD): the
// date hierarchy of the seed's admin.
func (q query) date(name string) (*store.DateRange, error) {
	s := q.get(name)
	if s == "" {
		return nil, nil
	}
	layout, next := "", func(t time.Time) time.Time { return t }
	switch len(s) {
	case 4:
		layout, next = "2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }
	case 7:
		layout, next = "2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	case 10:
		layout, next = "2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	}
	t, err := time.Parse(layout, s)
	if layout == "" || err != nil || t.Format(layout) != s {
		return nil, invalidField(name, "must be a UTC date: YYYY, YYYY-MM or YYYY-MM-DD")
	}
	return &store.DateRange{From: t, To: next(t)}, nil
}

// text reads an exact value such as a fingerprint: valid text of at most
// max bytes.
func (q query) text(name string, max int) (string, error) {
	s := q.get(name)
	if s == "" && !q.v.Has(name) {
		return "", nil
	}
	if s == "" || len(s) > max || !validText(s) {
		return "", invalidField(name, fmt.Sprintf("must be valid text of 1 to %d bytes", max))
	}
	return s, nil
}
