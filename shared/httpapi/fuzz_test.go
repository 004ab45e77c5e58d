package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// FuzzParseObject: any body either parses into an object whose every field
// reader answers without panicking, or is refused with a contract error.
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{
		`{"backup_type":"FULL_DATABASE","filename":"f","size_bytes":1}`, `{`, `[]`, `null`, `{"a":1} x`,
		`{"size_bytes":1e400}`, `{"tenant_ids":["` + uuid.NewString() + `"]}`, `{"metadata":{"a":[1,{"b":null}]}}`,
		"{\"filename\":\"\xff\"}", `{"a":"\u0000"}`, `{"target_timestamp":"2026-11-26T22:34:15+01:00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := parseObject(body)
		if err != nil {
			e := errorFrom(err)
			if e.Status != 400 && e.Status != 422 {
				t.Fatalf("parse error mapped to %d", e.Status)
			}
			return
		}
		for name := range o.fields {
			o.str(name)
			o.path(name)
			o.int(name)
			o.float(name)
			o.uuid(name)
			o.uuids(name)
			o.time(name)
			o.rawObject(name)
		}
		o.only([]string{"backup_type"}, "id")
		_ = o.err()
		_ = canonicalJSON(body)
	})
}

// FuzzCursor: only cursors this service made decode, and they decode to
// what was encoded.
func FuzzCursor(f *testing.F) {
	s := &Server{}
	s.cursors.key = []byte("a fuzzing secret of 32 bytes....")
	f.Add(s.encodeCursor(store.Cursor{Time: time.Date(2026, 11, 26, 22, 34, 15, 123000, time.UTC), ID: uuid.New()}))
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, tok string) {
		c, ok := s.decodeCursor(tok)
		if !ok {
			return
		}
		if again := s.encodeCursor(c); again != tok {
			t.Fatalf("cursor %q decodes to %v, which encodes to %q", tok, c, again)
		}
	})
}

// FuzzCheckMetadata: the metadata check never panics and agrees with the
// JSON parser about nesting depth for valid objects.
func FuzzCheckMetadata(f *testing.F) {
	f.Add(`{"a":{"b":[1,2,{"c":"}"}]}}`)
	f.Add(`{"s":"\\\"{{{"}`)
	f.Add(strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40))
	f.Fuzz(func(t *testing.T, md string) {
		errs := backupErrs(md)
		var v any
		if json.Unmarshal([]byte(md), &v) != nil {
			return
		}
		_, isObj := v.(map[string]any)
		deep := depth(v) > backup.MaxMetadataDepth
		tooBig := len(md) > backup.MaxMetadataBytes
		hasNUL := strings.Contains(md, `\u0000`)
		if isObj && !deep && !tooBig && !hasNUL && len(errs) > 0 {
			t.Fatalf("valid metadata %q refused: %v", md, errs)
		}
		if isObj && deep && !tooBig && len(errs) == 0 {
			t.Fatalf("metadata %d deep accepted", depth(v))
		}
	})
}

func backupErrs(md string) []string {
	var out []string
	n := backup.New{Type: backup.FullDatabase, Filename: "f", Metadata: json.RawMessage(md)}
	for _, e := range n.Validate() {
		out = append(out, e.Field+": "+e.Message)
	}
	return out
}

func depth(v any) int {
	switch x := v.(type) {
	case map[string]any:
		m := 0
		for _, e := range x {
			m = max(m, depth(e))
		}
		return m + 1
	case []any:
		m := 0
		for _, e := range x {
			m = max(m, depth(e))
		}
		return m + 1
	}
	return 0
}
