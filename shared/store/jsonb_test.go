package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/testenv"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// FuzzMetadataJSONB holds backup.CheckMetadata to PostgreSQL's jsonb: every
// JSON object that the check accepts, jsonb stores, and every one it refuses
// for a reason of jsonb's (not the size or depth limits of our own), jsonb
// refuses too. So metadata can never reach the database and fail there as a
// 500. Its seeds run in make test; make fuzz explores further.
func FuzzMetadataJSONB(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":1}`, `{"a":"\ud800"}`, `{"a":"\udc00"}`, `{"a":"\ud800\udc00"}`, `{"\ud800":1}`,
		`{"a":"\ud800x"}`, `{"a":"\ud800\n"}`, `{"a":"\ud800\ud800\udc00"}`, `{"a":"\u0000"}`,
		`{"a":1e1000000}`, `{"a":1e-1000000}`, `{"a":1e131071}`, `{"a":10e131071}`, `{"a":0.001e131074}`,
		`{"a":1e-16383}`, `{"a":1.5e-16383}`, `{"a":0e1000000}`, `{"a":0.0e-16382}`, `{"a":0.0e-16383}`,
		`{"a":-0}`, `{"a":1E+5}`, `{"a":0e1073741824}`, `{"a":1e-1073741823}`, `{"a":[1,{"b":2.5e-3}]}`,
		"{\"a\":\"\xff\"}", `{"a":"é\u00e9"}`,
	} {
		f.Add(seed)
	}
	db := testenv.NewDB(f)
	f.Fuzz(func(t *testing.T, md string) {
		var v map[string]any
		if json.Unmarshal([]byte(md), &v) != nil {
			return // the API refuses it as malformed before any rule
		}
		var errs validation.Errors
		backup.CheckMetadata(&errs, "metadata", json.RawMessage(md))
		for _, e := range errs {
			if strings.Contains(e.Message, "at most") {
				return // our own limits, stricter than jsonb's
			}
		}
		var stored string
		err := db.Pool.QueryRow(context.Background(), `SELECT $1::text::jsonb::text`, md).Scan(&stored)
		switch {
		case err != nil && len(errs) == 0:
			t.Fatalf("CheckMetadata accepts %q, which jsonb refuses: %v", md, err)
		case err == nil && len(errs) > 0:
			t.Fatalf("CheckMetadata refuses %q (%s), which jsonb stores", md, errs[0].Message)
		}
	})
}
