package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/opt"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// MaxBody is the largest request body accepted (1 MiB).
const MaxBody = 1 << 20

// readBody reads the request body, enforcing the size limit and, when there
// is a body, the JSON content type.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > MaxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, "payload_too_large", "the body is larger than %d bytes", MaxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, badRequest("the body could not be read")
	}
	if len(body) > MaxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, "payload_too_large", "the body is larger than %d bytes", MaxBody)
	}
	if len(body) == 0 {
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
	}
	return body, nil
}

// object is a JSON object body being decoded field by field, gathering a
// field error for every value of the wrong type.
type object struct {
	fields map[string]json.RawMessage
	errs   validation.Errors
}

// parseObject parses body as one JSON object and nothing after it.
func parseObject(body []byte) (*object, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, malformed("the request needs a JSON object body")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	o := &object{}
	// One pass into the object's fields; a body that is not an object is
	// still judged as JSON first, so that its error says which it is.
	var err error
	if trimmed[0] == '{' {
		err = dec.Decode(&o.fields)
	} else {
		var v any
		err = dec.Decode(&v)
	}
	if err != nil {
		return nil, malformed("the body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, malformed("the body has data after the JSON value")
	}
	if trimmed[0] != '{' {
		return nil, invalidField("body", "must be a JSON object")
	}
	return o, nil
}

// err returns the gathered errors plus those in more, or nil.
func (o *object) err(more ...validation.FieldError) error {
	all := append(o.errs, more...)
	if len(all) == 0 {
		return nil
	}
	return invalid(all)
}

// only refuses every field not in allowed; fields named in serverSet get a
// message saying the server sets them.
func (o *object) only(allowed []string, serverSet ...string) {
	o.onlyChanging(allowed, nil, serverSet...)
}

// onlyChanging is only for a change (PATCH) of an object: fixed are the
// fields it was created with that no change may touch, refused as such
// rather than as unknown or the server's.
func (o *object) onlyChanging(allowed, fixed []string, serverSet ...string) {
	var names []string
	for k := range o.fields {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		switch {
		case slices.Contains(allowed, k):
		case slices.Contains(serverSet, k):
			o.errs.Add(k, "is set by the server and cannot be sent")
		case slices.Contains(fixed, k):
			o.errs.Add(k, "is set when it is created and cannot change")
		default:
			o.errs.Add(k, "is not a known field")
		}
	}
}

func (o *object) has(name string) bool { _, ok := o.fields[name]; return ok }

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func (o *object) str(name string) opt.Value[string] {
	raw, ok := o.fields[name]
	if !ok {
		return opt.Value[string]{}
	}
	if isNull(raw) {
		return opt.Null[string]()
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		o.errs.Add(name, "must be a string")
		return opt.Value[string]{}
	}
	// Go's decoder takes bytes that are not UTF-8 for U+FFFD, which would
	// store text the client never sent (JSON is UTF-8: API.md).
	if !utf8.Valid(raw) {
		o.errs.Add(name, "must be valid UTF-8")
		return opt.Value[string]{}
	}
	return opt.Of(s)
}

// path reads a storage path: "" is taken as null (no copy there).
func (o *object) path(name string) opt.Value[string] {
	v := o.str(name)
	if v.Set && !v.Null && v.V == "" {
		return opt.Null[string]()
	}
	return v
}

func (o *object) int(name string) opt.Value[int64] {
	raw, ok := o.fields[name]
	if !ok {
		return opt.Value[int64]{}
	}
	if isNull(raw) {
		return opt.Null[int64]()
	}
	t := string(bytes.TrimSpace(raw))
	if t == "" || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		o.errs.Add(name, "must be an integer")
		return opt.Value[int64]{}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			o.errs.Add(name, "is out of range")
		} else {
			o.errs.Add(name, "must be an integer")
		}
		return opt.Value[int64]{}
	}
	return opt.Of(n)
}

// boolean reads a JSON true or false; anything else (including "true" as a
// string or 1) is a field error, so a typo cannot flip a setting.
func (o *object) boolean(name string) opt.Value[bool] {
	raw, ok := o.fields[name]
	if !ok {
		return opt.Value[bool]{}
	}
	switch string(bytes.TrimSpace(raw)) {
	case "null":
		return opt.Null[bool]()
	case "true":
		return opt.Of(true)
	case "false":
		return opt.Of(false)
	}
	o.errs.Add(name, "must be true or false")
	return opt.Value[bool]{}
}

func (o *object) float(name string) opt.Value[float64] {
	raw, ok := o.fields[name]
	if !ok {
		return opt.Value[float64]{}
	}
	if isNull(raw) {
		return opt.Null[float64]()
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		o.errs.Add(name, "must be a number")
		return opt.Value[float64]{}
	}
	return opt.Of(f)
}

// parseUUID accepts only the canonical 36-character form.
func parseUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.UUID{}, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

func (o *object) uuid(name string) opt.Value[uuid.UUID] {
	s := o.str(name)
	if !s.Set || s.Null {
		return opt.Value[uuid.UUID]{Set: s.Set, Null: s.Null}
	}
	id, ok := parseUUID(s.V)
	if !ok {
		o.errs.Add(name, "must be a UUID")
		return opt.Value[uuid.UUID]{}
	}
	return opt.Of(id)
}

func (o *object) uuids(name string) opt.Value[[]uuid.UUID] {
	raw, ok := o.fields[name]
	if !ok {
		return opt.Value[[]uuid.UUID]{}
	}
	if isNull(raw) {
		return opt.Null[[]uuid.UUID]()
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		o.errs.Add(name, "must be an array of UUIDs")
		return opt.Value[[]uuid.UUID]{}
	}
	ids := make([]uuid.UUID, 0, len(ss))
	for _, s := range ss {
		id, ok := parseUUID(s)
		if !ok {
			o.errs.Add(name, "must be an array of UUIDs")
			return opt.Value[[]uuid.UUID]{}
		}
		ids = append(ids, id)
	}
	return opt.Of(ids)
}

// locations reads an array of storage locations (local, r2, b2).
func (o *object) locations(name string) opt.Value[[]backup.Location] {
	raw, ok := o.fields[name]
	if !ok {
		return opt.Value[[]backup.Location]{}
	}
	if isNull(raw) {
		return opt.Null[[]backup.Location]()
	}
	var ls []backup.Location
	if err := json.Unmarshal(raw, &ls); err != nil {
		o.errs.Add(name, "must be an array of local, r2, b2")
		return opt.Value[[]backup.Location]{}
	}
	if ls == nil {
		ls = []backup.Location{}
	}
	return opt.Of(ls)
}

// parseTime accepts RFC 3339 with a zone and returns it in UTC.
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func (o *object) time(name string) opt.Value[time.Time] {
	s := o.str(name)
	if !s.Set || s.Null {
		return opt.Value[time.Time]{Set: s.Set, Null: s.Null}
	}
	t, ok := parseTime(s.V)
	if !ok {
		o.errs.Add(name, "must be an RFC 3339 timestamp with a zone, e.g. 2026-11-26T22:34:15Z")
		return opt.Value[time.Time]{}
	}
	return opt.Of(t)
}

// rawObject reads a JSON object field as it was sent.
func (o *object) rawObject(name string) opt.Value[json.RawMessage] {
	raw, ok := o.fields[name]
	if !ok {
		return opt.Value[json.RawMessage]{}
	}
	if isNull(raw) {
		return opt.Null[json.RawMessage]()
	}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		o.errs.Add(name, "must be a JSON object")
		return opt.Value[json.RawMessage]{}
	}
	return opt.Of(json.RawMessage(t))
}

// canonicalJSON re-encodes body with sorted keys and no insignificant space,
// so that the same request sent with other spacing or key order counts as
// the same for Idempotency-Key.
func canonicalJSON(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// asciiPrintable reports whether s is 1 to max printable ASCII characters.
func asciiPrintable(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) < 0
}

// validText reports whether s can be stored and searched: valid UTF-8 without NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
