package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// How the console writes values (CONSOLE.md, "Visual language"): sizes and
// durations with the formatters the notifications use, times relative with
// the exact UTC time beside them, statuses in words with a class for the
// colour that only repeats them.
var funcs = template.FuncMap{
	"size":    size,
	"dur":     dur,
	"ago":     ago,
	"utc":     utc,
	"tone":    tone,
	"due":     due,
	"short":   func(id uuid.UUID) string { return id.String()[:8] },
	"tenant":  tenantLabel,
	"user":    func(u *store.UserName) string { return userLabel(u) },
	"words":   words,
	"percent": func(f *float64) string { return percentText(f) },
	"days":    daysText,
	"num":     num,
	"add":     func(a, b int) int { return a + b },
	"deref":   derefString,
	"str":     func(v any) string { return fmt.Sprint(v) },
	"has":     func(p *string) bool { return p != nil && *p != "" },
	"plural":  plural,
	"ratio":   func(f *float64) string { return ratioText(f) },
	"joinIDs": joinIDs,
	"dict":    dict,
	"list":    func(xs ...string) []string { return xs },
	"copies":  copies,
	// The rows and sidebar choices of the lists (lists.go).
	"choice":         choice,
	"codes":          codes,
	"backupLines":    backupLines,
	"restoreLines":   restoreLines,
	"alertLines":     alertLines,
	"alertListLines": alertListLines,
}

func size(v any) string {
	switch n := v.(type) {
	case *int64:
		if n == nil {
			return "—"
		}
		return backup.HumanSize(*n)
	case int64:
		return backup.HumanSize(n)
	case float64:
		return backup.HumanSize(int64(n))
	}
	return fmt.Sprint(v)
}

func dur(v any) string {
	switch n := v.(type) {
	case *int64:
		if n == nil {
			return "—"
		}
		return backup.HumanDuration(*n)
	case int64:
		return backup.HumanDuration(n)
	}
	return fmt.Sprint(v)
}

// ago writes how long before now t was: "3 h ago", "in 2 days".
func ago(now time.Time, v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "—"
		}
		t = *x
	default:
		return ""
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = "just now"
		return s
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d.Hours()))
	default:
		s = fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// due says when a series is due: "in 3 h", or "overdue by 52 min" once
// that time has passed.
func due(now, t time.Time) string {
	if s := ago(now, t); strings.HasSuffix(s, " ago") {
		return "overdue by " + strings.TrimSuffix(s, " ago")
	}
	return ago(now, t)
}

// utc is the exact time, for titles and detail pages.
func utc(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05 UTC")
	case *time.Time:
		if x == nil {
			return "—"
		}
		return x.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return ""
}

// tone is the colour class of a status, severity or state: a second cue
// beside the word, never the only one.
func tone(v any) string { return toneOf(fmt.Sprint(v)) }

func toneOf(s string) string {
	switch s {
	case "COMPLETED", "VERIFIED", "OK", "RESOLVED":
		return "ok"
	case "IN_PROGRESS", "ACKNOWLEDGED":
		return "info"
	case "FAILED", "ERROR", "FAILING", "MISMATCH", "MISSING":
		return "bad"
	case "CRITICAL":
		return "critical"
	case "WARNING", "LATE", "ACTIVE":
		return "warn"
	}
	return "muted"
}

// tenantLabel names a tenant by name and slug.
func tenantLabel(t *store.TenantName) string {
	switch {
	case t == nil:
		return "—"
	case t.Slug == nil:
		return t.ID.String()[:8]
	case t.Name != nil && *t.Name != *t.Slug:
		return *t.Name + " (" + *t.Slug + ")"
	}
	return *t.Slug
}

func percentText(f *float64) string {
	if f == nil {
		return "—"
	}
	return strconv.FormatFloat(*f, 'f', 1, 64) + " %"
}

func daysText(f *float64) string {
	switch {
	case f == nil:
		return ""
	case *f < 1:
		return "less than a day"
	case *f < 2:
		return "about 1 day"
	}
	return fmt.Sprintf("%d days", int64(*f))
}

func ratioText(f *float64) string {
	if f == nil {
		return "—"
	}
	return strconv.FormatFloat(*f, 'f', 1, 64) + "×"
}

func num(v any) string {
	switch n := v.(type) {
	case int:
		return thousands(int64(n))
	case int64:
		return thousands(n)
	case *int64:
		if n == nil {
			return "—"
		}
		return thousands(*n)
	}
	return fmt.Sprint(v)
}

// thousands writes n with thousands separators: 120,034.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func joinIDs(ids []uuid.UUID) string {
	var s []string
	for _, id := range ids {
		s = append(s, id.String())
	}
	return strings.Join(s, ",")
}

// prettyJSON indents a JSON object for a detail page ("" for an empty one).
func prettyJSON(raw []byte) string {
	if len(raw) == 0 || string(raw) == "{}" || string(raw) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// words writes an enum value as words: FULL_DATABASE as FULL DATABASE,
// true and false as yes and no.
func words(v any) string { return wordsOf(fmt.Sprint(v)) }

func wordsOf(s string) string {
	switch s {
	case "true":
		return "yes"
	case "false":
		return "no"
	default:
		return strings.ReplaceAll(s, "_", " ")
	}
}

// dict makes a map of key and value pairs, for a partial template.
func dict(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return m
}

// esc escapes text for HTML, in an element or a quoted attribute: for the
// HTML written in Go (the list rows, copies).
func esc(s string) string { return template.HTMLEscapeString(s) }

// sizeHTML is a backup's size, with a small arrow when the size rule
// flags it as far from its series' usual size (CONSOLE.md), which says
// why in its title and, to a screen reader, in words.
func sizeHTML(r BackupRow) string {
	s := esc(size(r.SizeBytes))
	far := r.SizeFar()
	if far == "" {
		return s
	}
	arrow, words := "↑", "far above its usual size: "
	if float64(*r.SizeBytes) < r.Usual.Usual() {
		arrow, words = "↓", "far below its usual size: "
	}
	return s + ` <span class="size-far ` + toneOf(string(r.Usual.Severity)) + `" title="` + esc(far) + `" aria-hidden="true">` + arrow +
		`</span><span class="visually-hidden size-why">(` + words + esc(far) + `)</span>`
}

// badgeHTML is a status or severity as a badge: the words, with the tone's
// colour as a second cue.
func badgeHTML(state, text string) string {
	return `<span class="badge ` + toneOf(state) + `">` + esc(text) + `</span>`
}

// fill writes format with each %s replaced by the next of args, in order:
// the list rows' fmt.Sprintf without its reflection.
func fill(format string, args ...string) string {
	var b strings.Builder
	b.Grow(len(format) + 64*len(args))
	for _, a := range args {
		i := strings.Index(format, "%s")
		if i < 0 {
			break
		}
		b.WriteString(format[:i])
		b.WriteString(a)
		format = format[i+2:]
	}
	b.WriteString(format)
	return b.String()
}

// timeHTML is a time as lists show it: relative, with the exact UTC time
// as its title and, when machine is set, as its datetime.
func timeHTML(now, t time.Time, machine bool) string {
	dt := ""
	if machine {
		dt = ` datetime="` + t.Format(time.RFC3339) + `"`
	}
	return `<time` + dt + ` title="` + utc(t) + `">` + ago(now, t) + `</time>`
}

// copyPlaces are the three copies in the order of their marks: the
// location, the mark's label, and its name in words.
var copyPlaces = []struct {
	loc         backup.Location
	label, name string
}{{backup.Local, "L", "local"}, {backup.R2, "R2", "R2"}, {backup.B2, "B2", "B2"}}

// copyStateWords says what the last read of a copy found.
func copyStateWords(s backup.CopyState) string {
	switch s {
	case backup.CopyOK:
		return "verified"
	case backup.CopyMismatch:
		return "checksum mismatch"
	case backup.CopyMissing:
		return "missing"
	}
	return "not verified yet"
}

// copyBad says whether a copy's last read found it unusable.
func copyBad(s backup.CopyState) bool { return s == backup.CopyMismatch || s == backup.CopyMissing }

// copies writes a backup's three copy marks (local, R2, B2): filled when
// the copy exists, ticked when the last read of that copy matched, crossed
// in the problem colours when it did not match or was missing, with the
// same in words for screen readers and as a tooltip. Each copy speaks for
// itself: a backup verified once may have a copy found corrupt since.
func copies(b BackupRow) template.HTML {
	var s strings.Builder
	s.Grow(512)
	s.WriteString(`<span class="copies">`)
	for _, p := range copyPlaces {
		words, cls, mark := "no "+p.name+" copy", "copy", ""
		if c, ok := b.CopyStates[p.loc]; ok {
			words, cls = p.name+" copy: "+copyStateWords(c.State), "copy on"
			switch {
			case c.State == backup.CopyOK:
				mark = "✓"
			case copyBad(c.State):
				cls, mark = "copy bad", "✗"
			}
		}
		for _, part := range []string{`<span class="`, cls, `" title="`, words, `" aria-hidden="true">`, p.label, mark,
			`</span><span class="visually-hidden">`, words, `;</span>`} {
			s.WriteString(part)
		}
	}
	s.WriteString(`</span>`)
	return template.HTML(s.String())
}

// BadCopies names the copies whose last read found them unusable ("R2
// copy: checksum mismatch; B2 copy: missing"), "" when none did: the
// pages say it beside the verified time, which alone would read as all
// well.
func (b BackupRow) BadCopies() string {
	var bad []string
	for _, p := range copyPlaces {
		if c, ok := b.CopyStates[p.loc]; ok && copyBad(c.State) {
			bad = append(bad, p.name+" copy: "+copyStateWords(c.State))
		}
	}
	return strings.Join(bad, "; ")
}

// copyLine is one location of a backup's detail page: its copy there, if
// any, and what the last read of it found.
type copyLine struct {
	Name       string
	Present    bool
	Path       string
	State      backup.CopyState
	Words      string
	VerifiedAt *time.Time
}

// CopyLines are the backup's three locations for its detail page.
func (b BackupRow) CopyLines() []copyLine {
	lines := make([]copyLine, len(copyPlaces))
	for i, p := range copyPlaces {
		lines[i] = copyLine{Name: p.name}
		if c, ok := b.CopyStates[p.loc]; ok {
			lines[i] = copyLine{Name: p.name, Present: true, Path: c.Path, State: c.State, Words: copyStateWords(c.State), VerifiedAt: c.VerifiedAt}
		}
	}
	return lines
}
