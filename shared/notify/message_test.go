package notify_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/notify"
	"github.com/backupwatch/backupwatch/shared/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var (
	goldenAt     = time.Date(2026, 11, 26, 2, 3, 4, 0, time.UTC)
	goldenAlert  = uuid.MustParse("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
	goldenBackup = uuid.MustParse("0b8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")
	goldenJob    = uuid.MustParse("7a6b5c4d-3e2f-4109-8877-665544332211")
	goldenUser   = uuid.MustParse("11111111-2222-4333-8444-555555555555")
)

// goldenNotice is the notice of the example: the nightly full
// dump failed (CRITICAL), as each event sees it.
func goldenNotice(ev alert.Event) notify.Notice {
	bk := backup.Backup{
		ID: goldenBackup, Type: backup.FullDatabase, Filename: "full-2026-11-26.dump", Status: backup.Failed,
		CreatedAt: goldenAt.Add(-3 * time.Minute), BackupJobID: &goldenJob,
	}
	a := alert.Alert{
		ID: goldenAlert, Type: alert.BackupFailure, Severity: alert.Critical, BackupID: &bk.ID,
		Message: "FULL_DATABASE backup full-2026-11-26.dump failed: pg_dump exited 1: No space left on device",
		Details: json.RawMessage(`{"backup_job_id": "7a6b5c4d-3e2f-4109-8877-665544332211", "backup_type": "FULL_DATABASE",
			"duration_seconds": 3605, "filename": "full-2026-11-26.dump", "notes": "pg_dump exited 1: No space left on device",
			"size_bytes": 52428800000}`),
		Channels: []alert.Channel{alert.InApp, alert.Email, alert.SMS, alert.Webhook}, Status: alert.Active,
		Fingerprint: "BACKUP_FAILURE:FULL_DATABASE:-", CreatedAt: goldenAt, LastSeenAt: goldenAt,
	}
	n := notify.Notice{Event: ev, Severity: alert.Critical, At: goldenAt, Alert: a, Backup: &bk, APIURL: "https://backupwatch.example.com"}
	switch ev {
	case alert.Escalated:
		// It was an ERROR first; seen again as CRITICAL an hour later.
		n.Alert.CreatedAt = goldenAt.Add(-time.Hour)
		n.Alert.Details = json.RawMessage(`{"backup_type": "FULL_DATABASE", "filename": "full-2026-11-26.dump", "notes": "second failure"}`)
	case alert.Resolve:
		ack, res := goldenAt.Add(10*time.Minute), goldenAt.Add(2*time.Hour)
		n.At = res
		n.Alert.Status, n.Alert.AcknowledgedAt, n.Alert.AcknowledgedBy = alert.Resolved, &ack, &goldenUser
		n.Alert.ResolvedAt, n.Alert.ResolvedBy = &res, &goldenUser
		n.Alert.ResolutionNotes = "Freed 200 GB on the backup volume; full-2026-11-26b.dump completed."
		n.Alert.NotificationSentAt = &n.At
		n.Alert.LastSeenAt = goldenAt.Add(time.Minute)
	case alert.Reminder:
		// Nobody acknowledged it: REMINDER_INTERVAL (4 h) later, and
		// 4 h 20 min after it opened (the check runs every 5 minutes).
		n.At = goldenAt.Add(4*time.Hour + 20*time.Minute)
		n.Alert.LastSeenAt = n.At
	}
	return n
}

// TestGoldenMessages: each channel's message for each event, as a person
// (or a webhook receiver) gets it. Run with -update to accept a change.
func TestGoldenMessages(t *testing.T) {
	for _, ch := range []alert.Channel{alert.Email, alert.SMS, alert.Webhook} {
		for _, ev := range []alert.Event{alert.Opened, alert.Escalated, alert.Resolve, alert.Reminder} {
			t.Run(string(ch)+"-"+string(ev), func(t *testing.T) {
				m, err := notify.Render(ch, goldenNotice(ev))
				if err != nil {
					t.Fatal(err)
				}
				got := showMessage(m)
				path := filepath.Join("testdata", string(ch)+"-"+string(ev)+".golden")
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -run TestGoldenMessages -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from %s (go test -update to accept):\n--- got\n%s\n--- want\n%s", ch, path, got, want)
				}
				if want := map[string]string{"severity": "CRITICAL", "alert_type": "BACKUP_FAILURE", "event": string(ev)}; !equalMaps(m.Attributes, want) {
					t.Errorf("attributes %v, want %v", m.Attributes, want)
				}
			})
		}
	}
}

// showMessage is a message as the golden files keep it: subject, sorted
// attributes, a blank line, the body exactly.
func showMessage(m notify.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: %s\n", m.Subject)
	keys := make([]string, 0, len(m.Attributes))
	for k := range m.Attributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "Attribute %s: %s\n", k, m.Attributes[k])
	}
	b.WriteString("\n" + m.Body)
	if !strings.HasSuffix(m.Body, "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestWebhookIsTheAPIObject: the webhook body is exactly the API's alert
// object plus "event", and nothing else.
func TestWebhookIsTheAPIObject(t *testing.T) {
	n := goldenNotice(alert.Resolve)
	m, err := notify.Webhook(n)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(m.Body), &got); err != nil {
		t.Fatal(err)
	}
	api, _ := json.Marshal(n.Alert)
	var want map[string]any
	_ = json.Unmarshal(api, &want)
	want["event"] = "resolved"
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("webhook body\n got %s\nwant %s", g, w)
	}
}

// TestSubjectAndSMSSayTheEvent: the first words tell opened, escalated and
// resolved apart, on both short channels.
func TestSubjectAndSMSSayTheEvent(t *testing.T) {
	for _, tc := range []struct {
		ev            alert.Event
		subject, text string
	}{
		{alert.Opened, "[CRITICAL] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump", "backupwatch [CRITICAL] BACKUP_FAILURE: "},
		{alert.Escalated, "[ESCALATED to CRITICAL] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump", "backupwatch [ESCALATED to CRITICAL] "},
		{alert.Resolve, "[RESOLVED] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump", "backupwatch [RESOLVED] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump: Freed"},
	} {
		n := goldenNotice(tc.ev)
		if s := notify.Email(n).Subject; s != tc.subject {
			t.Errorf("%s: subject %q, want %q", tc.ev, s, tc.subject)
		}
		link := "https://backupwatch.example.com/console/a/bxwqO01eT2CKe5wNHi86Sw" // the alert's id, 22 characters
		if tc.ev == alert.Resolve {
			link = "(alert 6f1c2a3b)" // nothing to do: the room goes to how it was resolved
		}
		if s := notify.SMS(n).Body; !strings.HasPrefix(s, tc.text) || !strings.HasSuffix(s, " "+link) {
			t.Errorf("%s: SMS %q, want it to start %q and end with the short link to the alert's console page", tc.ev, s, tc.text)
		}
		// Without a public URL there is no link: the alert's id instead.
		n.APIURL = ""
		if s := notify.SMS(n).Body; !strings.HasPrefix(s, tc.text) || !strings.HasSuffix(s, "(alert 6f1c2a3b)") {
			t.Errorf("%s: SMS without a public URL %q, want it to end with the alert id", tc.ev, s)
		}
	}
}

// TestSubjectNamesWhatItIsAbout: a missing backup's subject names its
// series, not the last good backup the alert links to; a storage alert's
// names its target, so that its resolved notice is not the old "97% full";
// an ERROR is "An ERROR"; an empty detail is not a row.
func TestSubjectNamesWhatItIsAbout(t *testing.T) {
	missing := goldenNotice(alert.Opened)
	missing.Severity, missing.Alert.Type, missing.Alert.Severity = alert.Error, alert.BackupMissing, alert.Error
	missing.Alert.Details = json.RawMessage(`{"backup_type": "WAL_ARCHIVE", "cluster": "", "last_filename": "000000010000000000000003"}`)
	missing.Tenant = &store.Tenant{Slug: "acme", Name: "Acme"}
	storage := goldenNotice(alert.Resolve)
	storage.Alert.Type, storage.Backup, storage.Alert.BackupID = alert.StorageCapacity, nil, nil
	storage.Alert.Message = "Storage target b2 is 97% full (16.6 GB of 17.0 GB)"
	storage.Alert.ResolutionNotes = "resolved automatically: b2 has no capacity set, so it is no longer checked"
	storage.Alert.Details = json.RawMessage(`{"target": "b2", "used_bytes": 16562482824}`)
	for _, tc := range []struct {
		n             notify.Notice
		subject, body string
	}{
		{missing, "[ERROR] BACKUP_MISSING: WAL_ARCHIVE for acme", "An ERROR BACKUP_MISSING alert was opened."},
		{storage, "[RESOLVED] STORAGE_CAPACITY: storage target b2", "The STORAGE_CAPACITY alert is resolved: resolved automatically: b2 has no capacity set"},
	} {
		m := notify.Email(tc.n)
		if m.Subject != tc.subject || !strings.Contains(m.Body, tc.body) {
			t.Errorf("subject %q, want %q; body:\n%s", m.Subject, tc.subject, m.Body)
		}
		if strings.Contains(m.Body, "cluster") {
			t.Errorf("an empty cluster is a row:\n%s", m.Body)
		}
	}
}

// longNames are tenant and file names that push every message past its
// limit: ASCII, two-, three- and four-byte runes, combining marks, control
// characters and line breaks.
var longNames = []string{
	strings.Repeat("acme-corporation-international-", 20),
	strings.Repeat("société-générale-é", 30),
	strings.Repeat("株式会社バックアップ", 40),
	strings.Repeat("🦄🐘", 100),
	strings.Repeat("e\u0301", 150),
	"line one\nline two\r\n\tthree\x00\x07 " + strings.Repeat("x", 300),
	"",
	"a",
}

// TestMessageLimits checks the short channels' limits over every alert
// type, event and severity, with very long names.
func TestMessageLimits(t *testing.T) {
	for _, typ := range alert.Types {
		for _, ev := range []alert.Event{alert.Opened, alert.Escalated, alert.Resolve} {
			for _, sev := range alert.Severities {
				for _, name := range longNames {
					checkLimits(t, limitNotice(typ, ev, sev, name, name))
				}
			}
		}
	}
}

// FuzzMessageLimits: whatever the names and the message, a subject stays
// within 100 characters and an SMS within 140, on valid UTF-8 without line
// breaks.
func FuzzMessageLimits(f *testing.F) {
	for i, name := range longNames {
		f.Add(i%len(alert.Types), i%3, name, name+".dump", "FULL_DATABASE backup "+name+" failed")
	}
	f.Add(0, 0, "\xff\xfe", "bad\xc3", "\xe2\x82")
	f.Fuzz(func(t *testing.T, typ, ev int, tenant, file, message string) {
		events := []alert.Event{alert.Opened, alert.Escalated, alert.Resolve}
		n := limitNotice(alert.Types[abs(typ)%len(alert.Types)], events[abs(ev)%3], alert.Critical, tenant, file)
		n.Alert.Message = message
		n.Alert.ResolutionNotes = message
		checkLimits(t, n)
	})
}

func abs(i int) int {
	if i < 0 {
		return -(i + 1)
	}
	return i
}

func limitNotice(typ alert.Type, ev alert.Event, sev alert.Severity, tenant, file string) notify.Notice {
	tid := uuid.New()
	n := goldenNotice(ev)
	n.Alert.Type, n.Severity = typ, sev
	n.Tenant = &store.Tenant{ID: tid, Slug: tenant, Name: strings.ToUpper(tenant)}
	n.Alert.TenantID = &tid
	n.Alert.Message = fmt.Sprintf("TENANT_BACKUP for %s is 12%% of its usual size: %s", tenant, file)
	n.Alert.ResolutionNotes = "resolved automatically: " + file + " completed"
	details, _ := json.Marshal(map[string]any{"backup_type": "TENANT_BACKUP", "filename": file, "storage_target": tenant, "channel": "email"})
	n.Alert.Details = details
	if typ == alert.BackupMissing || typ == alert.StorageCapacity || typ == alert.NotificationFailure {
		n.Backup = nil // about a series, a target, a channel
	} else {
		n.Backup.Filename = file
	}
	return n
}

func checkLimits(t *testing.T, n notify.Notice) {
	t.Helper()
	email, sms := notify.Email(n), notify.SMS(n)
	for _, c := range []struct {
		what, s string
		max     int
	}{{"subject", email.Subject, notify.MaxSubject}, {"SMS", sms.Body, notify.MaxSMS}} {
		if !utf8.ValidString(c.s) {
			t.Fatalf("%s is not valid UTF-8: %q", c.what, c.s)
		}
		if l := utf8.RuneCountInString(c.s); l > c.max || l == 0 {
			t.Fatalf("%s of %s/%s has %d characters (max %d): %q", c.what, n.Alert.Type, n.Event, l, c.max, c.s)
		}
		if strings.IndexFunc(c.s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) >= 0 {
			t.Fatalf("%s has a control character or line break: %q", c.what, c.s)
		}
		if !strings.Contains(c.s, string(n.Alert.Type)) {
			t.Fatalf("%s lost the alert type: %q", c.what, c.s)
		}
	}
	if link := notify.ShortLink(n); !strings.HasSuffix(sms.Body, " "+link) && !strings.HasSuffix(sms.Body, "(alert "+n.Alert.ID.String()[:8]+")") {
		t.Fatalf("SMS lost the link to the alert and its id: %q", sms.Body)
	}
	if email.Subject == "" || !strings.Contains(email.Body, n.Alert.ID.String()) {
		t.Fatalf("email without subject or alert id")
	}
}

// TestBodiesFitMaxBody: whatever an alert carries (texts of megabytes that
// JSON escapes six bytes a byte, multi-byte characters at every cut, tens
// of thousands of details), the email and webhook bodies stay within
// MaxBody, valid UTF-8 (and JSON), say they were cut and where the whole
// alert is, and keep the alert's table and instructions. Before issue 12
// they carried everything.
func TestBodiesFitMaxBody(t *testing.T) {
	many := map[string]any{}
	for i := range 30000 {
		many[fmt.Sprintf("affected_backup_%05d", i)] = "tenant-backup-" + strings.Repeat("é", i%7)
	}
	manyJSON, _ := json.Marshal(many)
	escaped := strings.Repeat("<\x01&", 300<<10)
	for _, tc := range []struct {
		name           string
		message, notes string
		details        json.RawMessage
		omitted        bool
	}{
		{"huge message and notes", strings.Repeat("é🦄x", 200<<10), strings.Repeat("notes ", 100<<10), nil, false},
		{"escaped texts", escaped, escaped, json.RawMessage(`{"notes": ` + strconvQuote(escaped) + `, "list": [` + strings.Repeat(`"a",`, 100<<10) + `"b"]}`), true},
		{"thousands of details", "FULL_DATABASE backup failed", "", manyJSON, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := goldenNotice(alert.Resolve)
			n.Alert.Message, n.Alert.ResolutionNotes = tc.message, tc.notes
			if tc.details != nil {
				n.Alert.Details = tc.details
			}
			link := "https://backupwatch.example.com/v1/alerts/" + goldenAlert.String()
			email := notify.Email(n)
			if len(email.Body) > notify.MaxBody || !utf8.ValidString(email.Body) {
				t.Errorf("email body of %d bytes, valid UTF-8 %v", len(email.Body), utf8.ValidString(email.Body))
			}
			for _, want := range []string{"the whole alert is at GET " + link, "  Alert        " + goldenAlert.String(), "\nDetails\n",
				"Alert " + goldenAlert.String() + ", event resolved"} {
				if !strings.Contains(email.Body, want) {
					t.Errorf("email lacks %q", want)
				}
			}
			// (The email folds the escaped texts into short lines: all fit.)
			if tc.omitted && tc.details != nil && len(tc.details) == len(manyJSON) && !strings.Contains(email.Body, " more\n") {
				t.Errorf("email does not say details were left out")
			}
			hook, err := notify.Webhook(n)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(hook.Body), &got); err != nil || len(hook.Body) > notify.MaxBody {
				t.Fatalf("webhook of %d bytes: %v", len(hook.Body), err)
			}
			if got["truncated"] != true || got["alert_url"] != link || got["id"] != goldenAlert.String() || got["event"] != "resolved" {
				t.Errorf("webhook: truncated %v, alert_url %v", got["truncated"], got["alert_url"])
			}
			if _, ok := got["details_omitted"]; ok != tc.omitted {
				t.Errorf("details_omitted %v", got["details_omitted"])
			}
			if d, ok := got["details"].(map[string]any); !ok || len(d) == 0 {
				t.Errorf("webhook details %T %d", got["details"], len(d))
			}
			if tc.name == "huge message and notes" {
				show(t, "huge-webhook.json", hook.Body)
				show(t, "huge-email.txt", "Subject: "+email.Subject+"\n\n"+email.Body)
			}
		})
	}
	// A small alert is sent whole: no "truncated", as the golden files show.
	if m, _ := notify.Webhook(goldenNotice(alert.Opened)); strings.Contains(m.Body, "truncated") || strings.Contains(notify.Email(goldenNotice(alert.Opened)).Body, "shortened") {
		t.Errorf("a small alert was cut")
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDigestSMS: the digest says how many were held, the limit, and where
// they all are, within MaxSMS for an API URL of up to 55 characters.
func TestDigestSMS(t *testing.T) {
	url := "https://abcdefghij.execute-api.eu-west-1.amazonaws.com/"
	m := notify.Digest(1234, 20, alert.Critical, url)
	want := "backupwatch: 1234 alerts not sent by SMS (limit 20/h), more may follow: https://abcdefghij.execute-api.eu-west-1.amazonaws.com/v1/alerts"
	if m.Body != want || utf8.RuneCountInString(m.Body) > notify.MaxSMS || m.Subject != "" {
		t.Errorf("digest %q (%d characters)", m.Body, utf8.RuneCountInString(m.Body))
	}
	if m := notify.Digest(1, 20, alert.Error, ""); !strings.HasPrefix(m.Body, "backupwatch: 1 alert not sent by SMS") || m.Attributes["severity"] != "ERROR" {
		t.Errorf("digest %q %v", m.Body, m.Attributes)
	}
}
