package backup_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// TestObjectKey: API.md's layout, <prefix><backup_type>/<tenant slug or
// "_">/<YYYY>/<MM>/<DD>/<filename>, the date in UTC.
func TestObjectKey(t *testing.T) {
	at := time.Date(2026, 11, 28, 23, 30, 0, 0, time.FixedZone("", -3*3600)) // 29 Nov in UTC
	for _, tc := range []struct {
		name, prefix, slug, want string
		typ                      backup.Type
	}{
		// A tenant's backup is filed under its slug.
		{"tenant", "backups/", "acme", "backups/TENANT_BACKUP/acme/2026/11/29/x.dump", backup.TenantBackup},
		// No tenant: "_".
		{"no tenant", "backups/", "", "backups/FULL_DATABASE/_/2026/11/29/x.dump", backup.FullDatabase},
		// No prefix: the key starts with the type.
		{"no prefix", "", "", "WAL_ARCHIVE/_/2026/11/29/x.dump", backup.WALArchive},
	} {
		b := backup.Backup{Type: tc.typ, Filename: "x.dump", CreatedAt: at}
		if got := backup.ObjectKey(tc.prefix, b, tc.slug); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	l := backup.S3Location{Bucket: "bw-r2"}
	p := l.Path(backup.R2, "a/b")
	if p != "r2://bw-r2/a/b" {
		t.Errorf("path %s", p)
	}
	if k, ok := l.Key(backup.R2, p); !ok || k != "a/b" {
		t.Errorf("key of %s: %q %v", p, k, ok)
	}
	if _, ok := l.Key(backup.R2, "r2://other/a/b"); ok {
		t.Error("a path in another bucket has a key in this one")
	}
}

// TestS3LocationValidate: one case per rule.
func TestS3LocationValidate(t *testing.T) {
	ok := backup.S3Location{EndpointURL: "https://acct.r2.cloudflarestorage.com", Bucket: "bw-backups", Region: "auto", Prefix: "backups/"}
	for _, tc := range []struct {
		name  string
		edit  func(*backup.S3Location)
		field string
	}{
		{"valid", func(*backup.S3Location) {}, ""},
		// Loopback over http is how tests and MinIO-style servers run.
		{"http endpoint", func(l *backup.S3Location) { l.EndpointURL = "http://127.0.0.1:9000" }, ""},
		{"no prefix", func(l *backup.S3Location) { l.Prefix = "" }, ""},
		{"no endpoint", func(l *backup.S3Location) { l.EndpointURL = "" }, "s3.endpoint_url"},
		{"ftp endpoint", func(l *backup.S3Location) { l.EndpointURL = "ftp://x.example" }, "s3.endpoint_url"},
		// Credentials never pass through the API, not even in a URL.
		{"credentials in the endpoint", func(l *backup.S3Location) { l.EndpointURL = "https://k:s@x.example" }, "s3.endpoint_url"},
		{"path in the endpoint", func(l *backup.S3Location) { l.EndpointURL = "https://x.example/bucket" }, "s3.endpoint_url"},
		{"bucket too short", func(l *backup.S3Location) { l.Bucket = "ab" }, "s3.bucket"},
		{"bucket upper case", func(l *backup.S3Location) { l.Bucket = "Backups" }, "s3.bucket"},
		{"no region", func(l *backup.S3Location) { l.Region = "" }, "s3.region"},
		{"prefix without /", func(l *backup.S3Location) { l.Prefix = "backups" }, "s3.prefix"},
		{"prefix from /", func(l *backup.S3Location) { l.Prefix = "/backups/" }, "s3.prefix"},
		{"prefix with //", func(l *backup.S3Location) { l.Prefix = "a//b/" }, "s3.prefix"},
	} {
		l := ok
		tc.edit(&l)
		errs := l.Validate()
		if tc.field == "" && len(errs) > 0 || tc.field != "" && !errs.Has(tc.field) {
			t.Errorf("%s: %v", tc.name, errs)
		}
	}
}

// TestCopies: one copy per path; a copy never read is UNVERIFIED.
func TestCopies(t *testing.T) {
	at := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	b := backup.Backup{ID: uuid.New(), LocalPath: ptr("/var/x"), B2Path: ptr("b2://bw/x")}
	got := b.Copies(map[backup.Location]backup.CopyCheck{backup.B2: {State: backup.CopyMismatch, VerifiedAt: &at},
		backup.R2: {State: backup.CopyOK}}) // a check of a copy with no path shows nothing
	if len(got) != 2 || got[backup.Local].State != backup.CopyUnverified || got[backup.B2].State != backup.CopyMismatch ||
		got[backup.B2].VerifiedAt != &at || got[backup.B2].Path != "b2://bw/x" {
		t.Errorf("copies %+v", got)
	}
}

// TestAddCopy: a COMPLETED or VERIFIED backup may get a path that is
// still null; a path set stays as it is, and a FAILED backup gets none.
func TestAddCopy(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	done := backup.Backup{Type: backup.FullDatabase, Filename: "f", Status: backup.Completed, SizeBytes: ptr(int64(1)),
		Checksum: ptr("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), LocalPath: ptr("/x"), CreatedAt: now}
	failed := backup.Backup{Type: backup.FullDatabase, Filename: "f", Status: backup.Failed, CreatedAt: now}
	set := func(v string) backup.Patch { var p backup.Patch; p.R2Path.Set, p.R2Path.V = true, v; return p }
	for _, tc := range []struct {
		name   string
		b      backup.Backup
		p      backup.Patch
		frozen bool
	}{
		{"completed gets a copy", done, set("r2://bw/f"), false},
		{"verified gets a copy", withStatus(done, backup.Verified), set("r2://bw/f"), false},
		{"a copy of a failed backup", failed, set("r2://bw/f"), true},
		{"a path moved", withR2(done, "r2://bw/old"), set("r2://bw/f"), true},
	} {
		_, err := tc.b.Apply(tc.p, now)
		if frozen := err != nil; frozen != tc.frozen {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func withStatus(b backup.Backup, s backup.Status) backup.Backup { b.Status = s; return b }
func withR2(b backup.Backup, p string) backup.Backup            { b.R2Path = &p; return b }
