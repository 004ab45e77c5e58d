package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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
	// MaxBody bounds an email's or a webhook's body, in bytes: SNS takes
	// 256 KiB with the attributes, and this leaves room to spare. A longer
	// body is cut, saying so, with the alert's URL for the rest.
	MaxBody = 200 << 10
	// maxText bounds one free text in an email or a webhook (the alert's
	// message, its resolution notes) and maxDetail one detail's value, in
	// bytes: enough to act on; the whole is in the alert.
	maxText   = 16 << 10
	maxDetail = 2 << 10
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
	case alert.Reminder:
		return "[REMINDER " + string(n.Severity) + ", open " + openFor(n) + "]"
	}
	return "[" + string(n.Severity) + "]"
}

// openFor is how long the alert has been open at the event, for reminders.
func openFor(n Notice) string { return alert.OpenFor(n.Alert.CreatedAt, n.At) }

// what names what the alert is about, shortly: the backup, the series, the
// storage target or the channel; the alert's message when nothing shorter.
func what(n Notice) string {
	d := detailMap(n.Alert.Details)
	str := func(k string) string { s, _ := d[k].(string); return s }
	switch {
	case n.Backup != nil && n.Alert.Type != alert.BackupMissing:
		return string(n.Backup.Type) + " " + n.Backup.Filename
	case str("backup_type") != "":
		// A missing backup is the series' (its backup is the last good
		// one, which is not what is missing).
		s := str("backup_type")
		if c := str("cluster"); c != "" {
			s += " of cluster " + c
		}
		if n.Tenant != nil {
			s += " for " + n.Tenant.Slug
		}
		return s
	case str("target") != "" && n.Alert.Type == alert.StorageCapacity:
		return "storage target " + str("target")
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
	url := alertURL(n)

	// The free texts are cut first, so that the table and the instructions
	// always make it; the details then get what room is left.
	cut := false
	text := func(s string, limit int) string {
		t := cutBytes(s, limit)
		cut = cut || t != s
		return t
	}
	message := text(a.Message, maxText)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	switch n.Event {
	case alert.Escalated:
		w("The %s alert escalated to %s.\n\n", a.Type, n.Severity)
	case alert.Resolve:
		// Why first: fixed, or no longer checked, are not the same news.
		if a.ResolutionNotes != "" {
			w("The %s alert is resolved: %s\n\nIt said: ", a.Type, oneLine(text(a.ResolutionNotes, maxText)))
		} else {
			w("The %s alert is resolved.\n\n", a.Type)
		}
	case alert.Reminder:
		w("Reminder: the %s %s alert has been open for %s and nobody has acknowledged it yet.\n\n", n.Severity, a.Type, openFor(n))
	default:
		w("%s %s %s alert was opened.\n\n", article(string(n.Severity)), n.Severity, a.Type)
	}
	w("%s\n\n", message)

	row := func(k, v string) { w("  %-12s %s\n", k, text(v, maxDetail)) }
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
	if n.Event == alert.Reminder {
		row("Open for", openFor(n)+" (reminded every REMINDER_INTERVAL until acknowledged)")
	}
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
			row("Resolution", oneLine(text(a.ResolutionNotes, maxText)))
		}
	}
	row("Fingerprint", a.Fingerprint)

	head := b.String()
	b.Reset()

	console := consoleURL(n)
	switch {
	case console == "":
	case a.Status == alert.Resolved:
		w("The alert in the console: %s\n\n", console)
	case a.Status == alert.Acknowledged:
		w("The alert in the console: %s\n", console)
		w("Someone has acknowledged it. Once fixed, resolve it there: sign in with an operator or admin key,\n")
		w("say what was done under \"Resolution notes\" and press Resolve.\n\n")
	default:
		w("The alert in the console: %s\n", console)
		w("To acknowledge it there (so that the others know someone is on it): sign in with an operator or\n")
		w("admin key and press Acknowledge. Once fixed, say what was done under \"Resolution notes\" and press Resolve.\n\n")
	}
	if console != "" && a.Status != alert.Resolved {
		w("Or through the API:\n\n")
	}
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
	foot := b.String()
	b.Reset()

	// The details, each value cut, as many as fit beside the rest.
	note := "\n[This email is shortened to fit: the whole alert is at GET " + url + "]\n"
	room := MaxBody - len(head) - len(foot) - len(note) - 100
	if lines := detailLines(a.Details); len(lines) > 0 {
		w("\nDetails\n")
		for i, l := range lines {
			l = "  " + text(l, maxDetail) + "\n"
			if b.Len()+len(l) > room {
				w("  … and %d more\n", len(lines)-i)
				cut = true
				break
			}
			b.WriteString(l)
		}
	}
	details := b.String()

	body := head + details
	if cut {
		body += note
	}
	body += "\n" + foot
	if len(body) > MaxBody {
		// Only a table of huge names can get here: keep the start and the
		// instructions, which name the alert.
		body = cutBytes(head+details, MaxBody-len(note)-len(foot)-1) + note + "\n" + foot
	}
	return Message{Subject: subject, Body: body, Attributes: attributes(n)}
}

// consoleURL is the alert's page in the web console ("" without a public
// URL: a path alone is no link).
func consoleURL(n Notice) string {
	if n.APIURL == "" {
		return ""
	}
	return strings.TrimRight(n.APIURL, "/") + "/console/alerts/" + n.Alert.ID.String()
}

// ShortLink is the alert's short link, which the SMS carries: the console
// sends it on to the alert's page ("" without a public URL).
func ShortLink(n Notice) string {
	if n.APIURL == "" {
		return ""
	}
	return strings.TrimRight(n.APIURL, "/") + "/console/a/" + alert.ShortID(n.Alert.ID)
}

// minSMSText is the least room an SMS keeps for its text: a public URL so
// long that the short link leaves less goes without it.
const minSMSText = 20

// alertURL is the alert's address in the API.
func alertURL(n Notice) string {
	return strings.TrimRight(n.APIURL, "/") + "/v1/alerts/" + n.Alert.ID.String()
}

// SMS is the message for the SMS topic: at most 140 characters, saying how
// bad, what kind, what happened and which alert.
func SMS(n Notice) Message {
	a := n.Alert
	head := "backupwatch " + tag(n) + " " + string(a.Type) + ": "
	tail := " (alert " + a.ID.String()[:8] + ")"
	// Opened and escalated alerts carry the short link to their console
	// page, where someone acts; a resolved one asks nothing, and keeps the
	// room for how it was resolved.
	if link := ShortLink(n); link != "" && n.Event != alert.Resolve && MaxSMS-utf8.RuneCountInString(head)-utf8.RuneCountInString(link)-1 >= minSMSText {
		tail = " " + link
	}
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

// Digest is the SMS sent in place of the SMS held over the hourly limit:
// how many alerts it holds back, that more may follow, and where they all
// are. It stays within MaxSMS while the API's URL is at most 55 characters
// (a longer one is kept whole: a cut link is no use).
func Digest(held, limit int, severity alert.Severity, apiURL string) Message {
	alerts := "alerts"
	if held == 1 {
		alerts = "alert"
	}
	body := fmt.Sprintf("backupwatch: %d %s not sent by SMS (limit %d/h), more may follow: %s/v1/alerts",
		held, alerts, limit, strings.TrimRight(apiURL, "/"))
	return Message{Body: body, Attributes: map[string]string{
		AttrSeverity: string(severity), AttrAlertType: DigestType, AttrEvent: DigestEvent,
	}}
}

// The alert_type and event attributes of the digest SMS.
const (
	DigestType  = "SMS_DIGEST"
	DigestEvent = "held"
)

// webhookBody is the API's alert object plus the event; a body cut to fit
// says so and where the whole alert is.
type webhookBody struct {
	alert.Alert
	Event alert.Event `json:"event"`
	// OpenSeconds is how long the alert has been open, on a reminder.
	OpenSeconds int64 `json:"open_seconds,omitempty"`
	// Truncated: the message, the notes or the details were cut to fit
	// MaxBody; AlertURL has the whole alert, and DetailsOmitted counts the
	// details left out altogether.
	Truncated      bool   `json:"truncated,omitempty"`
	AlertURL       string `json:"alert_url,omitempty"`
	DetailsOmitted int    `json:"details_omitted,omitempty"`
}

// Webhook is the message for the webhook topic: the alert as the API shows
// it, plus "event". An alert too large for MaxBody is sent with its texts
// and detail values cut, then details left out, and "truncated": true with
// "alert_url"; the JSON stays valid.
func Webhook(n Notice) (Message, error) {
	a := n.Alert
	if len(a.Details) == 0 {
		a.Details = json.RawMessage(`{}`)
	}
	var open int64
	if n.Event == alert.Reminder {
		open = int64(n.At.Sub(a.CreatedAt) / time.Second)
	}
	body, err := json.Marshal(webhookBody{Alert: a, Event: n.Event, OpenSeconds: open})
	if err != nil {
		return Message{}, fmt.Errorf("encoding alert %s for the webhook: %w", a.ID, err)
	}
	// Cut harder until it fits: a text escaped in JSON can take six bytes
	// a byte, so one pass at the nominal limits may not be enough.
	for text, detail := maxText, maxDetail; len(body) > MaxBody; text, detail = text/4, detail/4 {
		cut := a
		cut.Message = cutBytes(a.Message, text)
		cut.ResolutionNotes = cutBytes(a.ResolutionNotes, text)
		cut.Fingerprint = cutBytes(a.Fingerprint, text)
		w := webhookBody{Alert: cut, Event: n.Event, OpenSeconds: open, Truncated: true, AlertURL: alertURL(n)}
		w.Details = json.RawMessage(`{}`)
		base, err := json.Marshal(w)
		if err != nil {
			return Message{}, fmt.Errorf("encoding alert %s for the webhook: %w", a.ID, err)
		}
		w.Details, w.DetailsOmitted = cutDetails(a.Details, detail, MaxBody-len(base)-40)
		if body, err = json.Marshal(w); err != nil {
			return Message{}, fmt.Errorf("encoding alert %s for the webhook: %w", a.ID, err)
		}
		if text < 16 {
			break // cannot be: the bare alert is a few hundred bytes
		}
	}
	return Message{Body: string(body), Attributes: attributes(n)}, nil
}

// cutDetails keeps of a details object, keys in order, each value cut to
// limit bytes (a long string shortened, a long array or object replaced by
// a note), as many as fit in room bytes; it returns them and how many it
// left out.
func cutDetails(raw json.RawMessage, limit, room int) (json.RawMessage, int) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return json.RawMessage(`{}`), 1
	}
	keys := slices.Sorted(maps.Keys(m))
	out := []byte{'{'}
	for i, k := range keys {
		v := m[k]
		if len(v) > limit {
			var s string
			if json.Unmarshal(v, &s) == nil {
				v, _ = json.Marshal(cutBytes(s, limit))
			} else {
				v, _ = json.Marshal(fmt.Sprintf("(%d bytes of JSON left out: see alert_url)", len(v)))
			}
		}
		key, _ := json.Marshal(k)
		entry := append(append(key, ':'), v...)
		if len(out)+len(entry)+2 > room {
			return append(out, '}'), len(keys) - i
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, entry...)
	}
	return append(out, '}'), 0
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

// article is "An" before a word said with a vowel first (ERROR, INFO),
// else "A".
func article(word string) string {
	if word != "" && strings.ContainsRune("AEIOU", rune(word[0])) {
		return "An"
	}
	return "A"
}

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
			if x == "" {
				continue // an empty detail (a WAL series' unnamed cluster) says nothing
			}
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

// cutBytes cuts s to at most n bytes, never inside a character, ending with
// an ellipsis when it cut.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	i := max(n-len(ellipsis), 0)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strings.ToValidUTF8(s[:i], "") + ellipsis
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
