package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Limits of what SNS delivers well.
const (
	// MaxSubject: SNS wants a subject "less than 100 characters long".
	MaxSubject = 99
	// MaxSMS: an SMS of more characters is split into several.
	MaxSMS = 140
)

// Notice is what a message tells: one event of an alert, with the names
// people know its tenant and backup by.
type Notice struct {
	Event alert.Event
	// Severity is the alert's at the event; the alert may have changed since.
	Severity alert.Severity
	// At is when the event happened.
	At time.Time
	// Alert is the alert as it is when the message is written.
	Alert  alert.Alert
	Tenant *store.Tenant  // nil: the alert is about no one tenant
	Backup *backup.Backup // nil: the alert is about no one backup
	// APIURL is the API's base URL for links ("" prints paths only).
	APIURL string
}

// Render writes the message of notice n for channel ch.
func Render(ch alert.Channel, n Notice) (Message, error) {
	switch ch {
	case alert.Email:
		return Email(n), nil
	case alert.SMS:
		return SMS(n), nil
	case alert.Webhook:
		return Webhook(n)
	}
	return Message{}, fmt.Errorf("rendering %s notification of alert %s: %w: %q", n.Event, n.Alert.ID, ErrUnknownChannel, ch)
}

func attributes(n Notice) map[string]string {
	return map[string]string{
		AttrSeverity:  string(n.Severity),
		AttrAlertType: string(n.Alert.Type),
		AttrEvent:     string(n.Event),
	}
}

// tag opens the subject and the SMS: how bad, and what happened to the alert.
func tag(n Notice) string {
	switch n.Event {
	case alert.Escalated:
		return "[ESCALATED to " + string(n.Severity) + "]"
	case alert.Resolve:
		return "[RESOLVED]"
	}
	return "[" + string(n.Severity) + "]"
}

// what names what the alert is about, shortly: the backup, the series, the
// storage target or the channel; the alert's message when nothing shorter.
func what(n Notice) string {
	d := detailMap(n.Alert.Details)
	str := func(k string) string { s, _ := d[k].(string); return s }
	switch {
	case n.Backup != nil:
		return string(n.Backup.Type) + " " + n.Backup.Filename
	case str("backup_type") != "":
		if n.Tenant != nil {
			return str("backup_type") + " for " + n.Tenant.Slug
		}
		return str("backup_type")
	case str("storage_target") != "":
		return "storage target " + str("storage_target")
	case str("channel") != "" && n.Alert.Type == alert.NotificationFailure:
		return str("channel") + " notifications"
	case n.Tenant != nil:
		return "tenant " + n.Tenant.Slug
	}
	return n.Alert.Message
}

// Email is the message for the email topic: a subject that says how bad,
// what kind and about what, and a body with everything needed to act.
func Email(n Notice) Message {
	a := n.Alert
	prefix := tag(n) + " " + string(a.Type) + ": "
	subject := oneLine(prefix + truncate(oneLine(what(n)), MaxSubject-utf8.RuneCountInString(prefix)))
	subject = truncate(subject, MaxSubject)

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	switch n.Event {
	case alert.Escalated:
		w("The %s alert escalated to %s.\n\n", a.Type, n.Severity)
	case alert.Resolve:
		w("The %s alert is resolved.\n\n", a.Type)
	default:
		w("A %s %s alert was opened.\n\n", n.Severity, a.Type)
	}
	w("%s\n\n", a.Message)

	row := func(k, v string) { w("  %-12s %s\n", k, v) }
	row("Alert", a.ID.String())
	row("Type", string(a.Type))
	row("Severity", severityLine(n))
	row("Status", string(a.Status))
	switch {
	case n.Tenant != nil:
		row("Tenant", fmt.Sprintf("%s (%s, %s)", n.Tenant.Slug, n.Tenant.Name, n.Tenant.ID))
	case a.TenantID != nil:
		row("Tenant", a.TenantID.String())
	default:
		row("Tenant", "none (the whole service)")
	}
	if bk := n.Backup; bk != nil {
		row("Backup", fmt.Sprintf("%s (%s, %s, created %s, %s)", bk.Filename, bk.Type, bk.Status, stamp(bk.CreatedAt), bk.ID))
	} else if a.BackupID != nil {
		row("Backup", a.BackupID.String())
	}
	if a.RestoreID != nil {
		row("Restore", a.RestoreID.String())
	}
	row("Opened", stamp(a.CreatedAt))
	if n.Event == alert.Escalated {
		row("Escalated", stamp(n.At))
	}
	row("Last seen", stamp(a.LastSeenAt))
	if a.AcknowledgedAt != nil {
		row("Acknowledged", stamp(*a.AcknowledgedAt)+" by "+who(a.AcknowledgedBy))
	}
	if a.ResolvedAt != nil {
		row("Resolved", stamp(*a.ResolvedAt)+" by "+who(a.ResolvedBy))
		if a.ResolutionNotes != "" {
			row("Resolution", oneLine(a.ResolutionNotes))
		}
	}
	row("Fingerprint", a.Fingerprint)

	if lines := detailLines(a.Details); len(lines) > 0 {
		w("\nDetails\n")
		for _, l := range lines {
			w("  %s\n", l)
		}
	}

	url := strings.TrimRight(n.APIURL, "/") + "/v1/alerts/" + a.ID.String()
	w("\n")
	switch a.Status {
	case alert.Resolved:
		w("Nothing to do: the alert is resolved.\n")
	case alert.Acknowledged:
		w("Someone has acknowledged it. Once fixed, resolve it:\n\n")
		w("  curl -X POST %s/resolve \\\n", url)
		w("    -H \"Authorization: Bearer $BACKUPWATCH_API_KEY\" -H \"Content-Type: application/json\" \\\n")
		w("    -d '{\"resolution_notes\": \"what was done\"}'\n")
	default:
		w("To acknowledge it (so that the others know someone is on it), with an operator or admin key:\n\n")
		w("  curl -X POST %s/acknowledge \\\n", url)
		w("    -H \"Authorization: Bearer $BACKUPWATCH_API_KEY\" -H \"Content-Type: application/json\" \\\n")
		w("    -d '{\"notes\": \"looking into it\"}'\n\n")
		w("Once fixed, resolve it the same way: POST %s/resolve with {\"resolution_notes\": \"...\"}.\n", url)
	}
	w("The alert: GET %s\n", url)
	w("\n-- \nbackupwatch: you receive this because you subscribed to its email topic.\n")
	w("Alert %s, event %s: a message repeated with the same two is a duplicate.\n", a.ID, n.Event)
	return Message{Subject: subject, Body: b.String(), Attributes: attributes(n)}
}

// SMS is the message for the SMS topic: at most 140 characters, saying how
// bad, what kind, what happened and which alert.
func SMS(n Notice) Message {
	a := n.Alert
	head := "backupwatch " + tag(n) + " " + string(a.Type) + ": "
	tail := " (alert " + a.ID.String()[:8] + ")"
	text := a.Message
	if n.Event == alert.Resolve {
		text = what(n)
		if a.ResolutionNotes != "" {
			text += ": " + a.ResolutionNotes
		}
	}
	room := MaxSMS - utf8.RuneCountInString(head) - utf8.RuneCountInString(tail)
	body := truncate(oneLine(head+truncate(oneLine(text), max(room, 1))+tail), MaxSMS)
	return Message{Body: body, Attributes: attributes(n)}
}

// webhookBody is the API's alert object plus the event.
type webhookBody struct {
	alert.Alert
	Event alert.Event `json:"event"`
}

// Webhook is the message for the webhook topic: the alert as the API shows
// it, plus "event".
func Webhook(n Notice) (Message, error) {
	a := n.Alert
	if len(a.Details) == 0 {
		a.Details = json.RawMessage(`{}`)
	}
	body, err := json.Marshal(webhookBody{Alert: a, Event: n.Event})
	if err != nil {
		return Message{}, fmt.Errorf("encoding alert %s for the webhook: %w", a.ID, err)
	}
	return Message{Body: string(body), Attributes: attributes(n)}, nil
}

func severityLine(n Notice) string {
	if n.Severity != n.Alert.Severity {
		return fmt.Sprintf("%s (now %s)", n.Severity, n.Alert.Severity)
	}
	return string(n.Severity)
}

func who(u *uuid.UUID) string {
	if u == nil {
		return "the system"
	}
	return "user " + u.String()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// detailMap decodes an alert's details, keeping numbers as written.
func detailMap(raw json.RawMessage) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

// detailLines writes details as aligned "key  value" lines, keys sorted,
// byte counts also in human units.
func detailLines(raw json.RawMessage) []string {
	m := detailMap(raw)
	keys := make([]string, 0, len(m))
	width := 0
	for k := range m {
		keys = append(keys, k)
		width = max(width, utf8.RuneCountInString(k))
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		var v string
		switch x := m[k].(type) {
		case nil:
			v = "-"
		case string:
			v = oneLine(x)
		case json.Number:
			v = x.String()
			if n, err := x.Int64(); err == nil && strings.HasSuffix(k, "_bytes") {
				v += " (" + backup.HumanSize(n) + ")"
			}
		case bool:
			v = fmt.Sprint(x)
		default:
			j, _ := json.Marshal(x)
			v = string(j)
		}
		out = append(out, fmt.Sprintf("%-*s  %s", width, k, v))
	}
	return out
}

// oneLine folds runs of white space and control characters into one space:
// subjects and SMS must not break lines.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// truncate cuts s to at most n characters (runes, never inside one), ending
// with an ellipsis when it cut.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…"
}
