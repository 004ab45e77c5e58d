package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/restore"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// pathID reads the {id} of a detail page; one that is not a UUID names
// nothing, a 404 like any other.
func pathID(p *request) (uuid.UUID, error) {
	id, err := uuid.Parse(p.r.PathValue("id"))
	if err != nil || len(p.r.PathValue("id")) != 36 {
		return id, store.ErrNotFound
	}
	return id, nil
}

// related is how many restores or alerts a detail page lists.
const related = 20

type backupData struct {
	BackupRow
	Restores []RestoreRow
	Alerts   []AlertRow
	Chart    *SeriesChart
	Metadata string
}

func (c *Console) backup(ctx context.Context, p *request) (*view, error) {
	id, err := pathID(p)
	if err != nil {
		return nil, err
	}
	b, err := store.GetBackup(ctx, p.tx, id, false)
	if err != nil {
		return nil, err
	}
	rows, err := backupRows(ctx, p, []backup.Backup{b})
	if err != nil {
		return nil, err
	}
	d := backupData{BackupRow: rows[0], Metadata: prettyJSON(b.Metadata)}
	rs, _, err := store.ListRestores(ctx, p.tx, store.RestoreFilter{BackupID: &id}, store.Page{Limit: related})
	if err != nil {
		return nil, err
	}
	if d.Restores, err = restoreRows(ctx, p, rs); err != nil {
		return nil, err
	}
	as, _, err := store.ListAlerts(ctx, p.tx, store.AlertFilter{BackupID: &id}, store.Page{Limit: related})
	if err != nil {
		return nil, err
	}
	if d.Alerts, err = alertRows(ctx, p, as); err != nil {
		return nil, err
	}
	if d.Chart, err = c.chartOf(ctx, p, b.Series(), &b.ID); err != nil {
		return nil, err
	}
	return &view{Page: "backup", Title: "Backup " + b.Filename, Data: &d}, nil
}

type restoreData struct {
	RestoreRow
	Alerts   []AlertRow
	Sentence string
	Metadata string
}

func (c *Console) restore(ctx context.Context, p *request) (*view, error) {
	id, err := pathID(p)
	if err != nil {
		return nil, err
	}
	r, err := store.GetRestore(ctx, p.tx, id, false)
	if err != nil {
		return nil, err
	}
	rows, err := restoreRows(ctx, p, []restore.Restore{r})
	if err != nil {
		return nil, err
	}
	d := restoreData{RestoreRow: rows[0], Metadata: prettyJSON(r.Metadata)}
	as, _, err := store.ListAlerts(ctx, p.tx, store.AlertFilter{RestoreID: &id}, store.Page{Limit: related})
	if err != nil {
		return nil, err
	}
	if d.Alerts, err = alertRows(ctx, p, as); err != nil {
		return nil, err
	}
	d.Sentence = restoreSentence(d.RestoreRow, p.now)
	return &view{Page: "restore", Title: "Restore of " + r.Backup.Filename, Data: &d}, nil
}

// restoreSentence tells a restore as the audit trail reads it: "Ana
// restored acme's tenant backup of 26 Nov 2026 02:00 (PITR to 25 Nov 2026
// 18:30) for OPS-1234; it completed in 4 min, 120,034 rows."
func restoreSentence(r RestoreRow, now time.Time) string {
	who := "Someone"
	if r.InitiatedBy != nil {
		who = r.InitiatedBy.Name
	}
	verb := map[restore.Status]string{restore.InProgress: "is restoring", restore.Completed: "restored",
		restore.Failed: "tried to restore", restore.Cancelled: "started to restore"}[r.Status]
	noun := map[backup.Type]string{backup.FullDatabase: "full database backup", backup.TenantBackup: "tenant backup",
		backup.WALArchive: "WAL segment", backup.Configuration: "configuration backup"}[r.Backup.Type]
	what := "the " + noun
	if r.Owner != nil {
		what = slugOf(*r.Owner) + "'s " + noun
	}
	const when = "2 Jan 2006 15:04"
	s := fmt.Sprintf("%s %s %s of %s (%s", who, verb, what, r.Backup.CreatedAt.UTC().Format(when), r.Mode)
	if r.TargetTimestamp != nil {
		s += " to " + r.TargetTimestamp.UTC().Format(when)
	}
	if len(r.TenantIDs) > 0 {
		names := make([]string, len(r.Tenants))
		for i, t := range r.Tenants {
			names[i] = slugOf(t)
		}
		s += " into " + strings.Join(names, ", ")
	}
	s += ") for " + strings.TrimSpace(r.Reason) + "; "
	switch r.Status {
	case restore.InProgress:
		// A restore that ran for a day has not reported its end, rather
		// than restoring still: said so, so that it is not read as live.
		if since := now.Sub(r.StartedAt); since >= 24*time.Hour {
			s += "it has reported nothing since it started, " + ago(now, r.StartedAt) + "."
		} else {
			s += "it is still running."
		}
	case restore.Completed:
		s += "it completed"
		if r.DurationSeconds != nil {
			s += " in " + backup.HumanDuration(*r.DurationSeconds)
		}
		if r.RowsRestored != nil {
			s += ", " + thousands(*r.RowsRestored) + " rows"
		}
		s += "."
	case restore.Failed:
		s += "it failed"
		if r.ErrorMessage != nil {
			s += ": " + *r.ErrorMessage
		}
		s += "."
	default:
		s += "it was cancelled."
	}
	return s
}

// slugOf names a tenant in a sentence: by its slug, when the key may read it.
func slugOf(t store.TenantName) string {
	if t.Slug != nil {
		return *t.Slug
	}
	return tenantLabel(&t)
}

// event is one line of an alert's timeline.
type event struct {
	At    time.Time
	What  string
	Who   string
	Notes string // what the person who did it wrote
}

type alertData struct {
	AlertRow
	Backup   *BackupRow
	Restore  *RestoreRow
	Timeline []event
	Chart    *SeriesChart
	Details  string
	Short    string
}

func (c *Console) alert(ctx context.Context, p *request) (*view, error) {
	id, err := pathID(p)
	if err != nil {
		return nil, err
	}
	a, err := store.GetAlert(ctx, p.tx, id, false)
	if err != nil {
		return nil, err
	}
	rows, err := alertRows(ctx, p, []alert.Alert{a})
	if err != nil {
		return nil, err
	}
	// The acknowledgement's notes are a person's words in the timeline,
	// not a detail of the condition.
	ackNotes, details := takeDetail(a.Details, alert.AcknowledgeNotes)
	d := alertData{AlertRow: rows[0], Details: prettyJSON(details), Short: alert.ShortID(a.ID)}
	if a.BackupID != nil {
		b, err := store.GetBackup(ctx, p.tx, *a.BackupID, false)
		switch {
		case err == nil:
			br, err := backupRows(ctx, p, []backup.Backup{b})
			if err != nil {
				return nil, err
			}
			d.Backup = &br[0]
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	if a.RestoreID != nil {
		r, err := store.GetRestore(ctx, p.tx, *a.RestoreID, false)
		switch {
		case err == nil:
			rr, err := restoreRows(ctx, p, []restore.Restore{r})
			if err != nil {
				return nil, err
			}
			d.Restore = &rr[0]
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	ns, err := store.ListNotifications(ctx, p.tx, a.ID)
	if err != nil {
		return nil, err
	}
	d.Timeline = timeline(d.AlertRow, ackNotes, ns)
	if s, ok := alertSeries(a); ok && (a.Type == alert.SizeDeviation || a.Type == alert.DurationThreshold) {
		if d.Chart, err = c.chartOf(ctx, p, s, a.BackupID); err != nil {
			return nil, err
		}
	}
	return &view{Page: "alert", Title: string(a.Type) + " alert", Data: &d}, nil
}

// timeline is what happened to an alert, oldest first: opened, seen again,
// escalated, each notification, acknowledged (with its notes), resolved.
func timeline(a AlertRow, ackNotes string, ns []alert.Notification) []event {
	ev := []event{{At: a.CreatedAt, What: "Opened"}}
	for _, n := range ns {
		if n.Event == alert.Escalated && !slices.ContainsFunc(ev, func(e event) bool { return e.At.Equal(n.CreatedAt) && strings.HasPrefix(e.What, "Escalated") }) {
			ev = append(ev, event{At: n.CreatedAt, What: "Escalated to " + string(n.Severity)})
		}
		what := fmt.Sprintf("%s notification (%s) ", n.Channel, n.Event)
		switch {
		case n.SentAt != nil:
			ev = append(ev, event{At: *n.SentAt, What: what + "sent"})
		case n.LastError != "":
			ev = append(ev, event{At: n.CreatedAt, What: what + "not sent yet: " + n.LastError})
		default:
			ev = append(ev, event{At: n.CreatedAt, What: what + "queued (" + strings.ToLower(string(n.State)) + ")"})
		}
	}
	if a.LastSeenAt.After(a.CreatedAt) {
		ev = append(ev, event{At: a.LastSeenAt, What: "Last seen"})
	}
	if a.AcknowledgedAt != nil {
		ev = append(ev, event{At: *a.AcknowledgedAt, What: "Acknowledged", Who: userLabel(a.AcknowledgedBy), Notes: ackNotes})
	}
	if a.ResolvedAt != nil {
		e := event{At: *a.ResolvedAt, What: "Resolved", Who: userLabel(a.ResolvedBy), Notes: a.ResolutionNotes}
		if a.ResolvedBy == nil {
			e.Who = "the system"
		}
		ev = append(ev, e)
	}
	slices.SortStableFunc(ev, func(x, y event) int { return x.At.Compare(y.At) })
	return ev
}

// takeDetail splits the text under key from an alert's details: the text
// ("" when absent or not text), and the details without it.
func takeDetail(details json.RawMessage, key string) (string, json.RawMessage) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(details, &m); err != nil || m[key] == nil {
		return "", details
	}
	var text string
	if err := json.Unmarshal(m[key], &text); err != nil {
		return "", details
	}
	delete(m, key)
	rest, err := json.Marshal(m)
	if err != nil {
		return text, details
	}
	return text, rest
}

func userLabel(u *store.UserName) string {
	if u == nil {
		return "someone"
	}
	return u.Name
}

// alertSeries reads the series an alert is about from its fingerprint
// (TYPE:<backup_type>:<tenant or ->).
func alertSeries(a alert.Alert) (backup.Series, bool) {
	parts := strings.Split(a.Fingerprint, ":")
	if len(parts) < 3 || !backup.Type(parts[1]).Valid() {
		return backup.Series{}, false
	}
	s := backup.Series{Type: backup.Type(parts[1])}
	if parts[2] != "-" {
		id, err := uuid.Parse(parts[2])
		if err != nil {
			return s, false
		}
		s.TenantID = &id
	}
	return s, true
}

// The bulk actions: a form of the alerts list (or an alert's page) posts
// the selected ids; the answer goes back where it came from with a line
// that says what was done and what was skipped and why.

func (c *Console) acknowledge(ctx context.Context, p *request) (*view, error) {
	form := p.r.PostForm
	// Enter in the list's resolution notes submits the form's first
	// button, Acknowledge. console.js presses Resolve instead; without the
	// script, acknowledging would drop the notes and leave the alert open,
	// so a request that says how it was resolved and nothing else is not
	// taken for an acknowledgement.
	if strings.TrimSpace(form.Get("notes")) == "" && strings.TrimSpace(form.Get("resolution_notes")) != "" {
		return c.refuse(p, backOf(form), "Nothing was changed: resolution notes were typed, but the form asked to acknowledge. "+
			"To resolve, press Resolve selected; to acknowledge, clear the resolution notes.")
	}
	return c.bulk(ctx, p, "notes", false, "Acknowledged", func(id uuid.UUID, notes string) error {
		_, err := c.alerts.ForRun().Acknowledge(ctx, p.tx, id, &p.who.UserID, notes, p.now)
		return err
	})
}

func (c *Console) resolve(ctx context.Context, p *request) (*view, error) {
	if p.r.PostForm.Get("rebaseline") == "true" {
		return c.resolveRebaselined(ctx, p)
	}
	return c.bulk(ctx, p, "resolution_notes", true, "Resolved", func(id uuid.UUID, notes string) error {
		_, err := c.alerts.ForRun().Resolve(ctx, p.tx, id, &p.who.UserID, notes, p.now)
		if err == nil {
			p.alerted = true
		}
		return err
	})
}

// resolveRebaselined resolves one SIZE_DEVIATION alert and takes its size
// as the series' new normal, as the API's resolve with "rebaseline": true
// does (httpapi.ResolveRebaselined: its rules, its audit entry, via the
// console). A refusal changes nothing and says why on the alert's page.
func (c *Console) resolveRebaselined(ctx context.Context, p *request) (*view, error) {
	form := p.r.PostForm
	back := backOf(form)
	id, err := uuid.Parse(form.Get("alert"))
	if err != nil || len(form["ids"]) != 1 || form.Get("ids") != form.Get("alert") {
		return c.refuse(p, back, "Nothing was changed: a re-baseline is made from one alert's page.")
	}
	notes := strings.TrimSpace(form.Get("resolution_notes"))
	var errs validation.Errors
	if notes == "" {
		errs.Add("resolution_notes", "is required: say how it was resolved")
	} else {
		backup.CheckLongText(&errs, "resolution_notes", notes, true)
	}
	if len(errs) > 0 {
		return c.refuse(p, back, "Nothing was changed: Resolution notes "+errs[0].Message+".")
	}
	_, err = httpapi.ResolveRebaselined(ctx, p.tx, p.who, c.alerts.ForRun(), id, notes, p.now)
	var refusal *httpapi.Error
	switch {
	case errors.As(err, &refusal) && refusal.Status == http.StatusUnprocessableEntity:
		// Checked before anything was written.
		msg := refusal.Message
		if len(refusal.Details) > 0 {
			msg = refusal.Details[0].Field + " " + refusal.Details[0].Message
		}
		return c.refuse(p, back, "Nothing was changed: "+msg+".")
	case err != nil:
		return nil, err // the transaction rolls back
	}
	p.alerted = true
	return c.bounce(p, back, notice{Text: "Resolved the alert; the size rule's baseline of its series starts afresh from its backup."})
}

// backOf is where a bulk form sends the browser back to: the alert's page
// it was on, or the list with the query it showed.
func backOf(form url.Values) string {
	back := Prefix + "/alerts"
	if q := form.Get("back"); q != "" {
		if _, err := url.ParseQuery(q); err == nil {
			back += "?" + q
		}
	}
	if one := form.Get("alert"); one != "" {
		if _, err := uuid.Parse(one); err == nil {
			back = Prefix + "/alerts/" + one
		}
	}
	return back
}

// bulk applies a change to the alerts the form selected (httpapi.Bulk, as
// the API's bulk routes do), then sends the browser back where the form
// was with what happened. A form that breaks a rule changes nothing.
func (c *Console) bulk(ctx context.Context, p *request, field string, required bool, done string, apply func(uuid.UUID, string) error) (*view, error) {
	form := p.r.PostForm
	back := backOf(form)
	var ids []uuid.UUID
	for _, s := range form["ids"] {
		id, err := uuid.Parse(s)
		if err != nil {
			return c.refuse(p, back, "Nothing was changed: "+strings.TrimSpace(s)+" is not an alert id.")
		}
		ids = append(ids, id)
	}
	switch {
	case len(ids) == 0:
		return c.refuse(p, back, "Nothing was changed: select at least one alert.")
	case len(ids) > httpapi.MaxBulk:
		return c.refuse(p, back, fmt.Sprintf("Nothing was changed: select at most %d alerts at once.", httpapi.MaxBulk))
	}
	notes := strings.TrimSpace(form.Get(field))
	var errs validation.Errors
	if required && notes == "" {
		errs.Add(field, "is required: say how it was resolved")
	} else {
		backup.CheckLongText(&errs, field, notes, required)
	}
	if len(errs) > 0 {
		label := map[string]string{"notes": "Notes", "resolution_notes": "Resolution notes"}[field]
		return c.refuse(p, back, "Nothing was changed: "+label+" "+errs[0].Message+".")
	}
	res, err := httpapi.Bulk(ids, func(id uuid.UUID) error { return apply(id, notes) })
	if err != nil {
		return nil, err
	}
	n, err := bulkNotice(ctx, p, done, res)
	if err != nil {
		return nil, err
	}
	return c.bounce(p, back, n)
}

// notice is the line the page after a change shows about it: what was
// done, and the alerts skipped with why. A Problem (a refusal, or a change
// that changed nothing) is shown as one, not as a success.
type notice struct {
	Text    string         `json:"text"`
	Problem bool           `json:"problem,omitempty"`
	Skipped []skippedAlert `json:"skipped,omitempty"`
	// Left is how many skipped alerts there were in all; past
	// namedSkipped the line counts them without naming them.
	Left int `json:"left,omitempty"`
}

// skippedAlert is an alert a bulk change left alone, named as the lists
// name it ("SIZE DEVIATION, ACME (acme)"; "": not visible to the key).
type skippedAlert struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

// Short is the alert's id as far as a person compares it.
func (s skippedAlert) Short() string { return s.ID[:min(8, len(s.ID))] }

// Unnamed is how many skipped alerts the line counts without naming.
func (n notice) Unnamed() int { return n.Left - len(n.Skipped) }

// namedSkipped is how many skipped alerts a notice names (the rest are
// counted): each is a read, and the notice rides in a cookie.
const namedSkipped = 10

// bulkNotice says what a bulk change did: "Acknowledged 3 alerts. Skipped
// 1: BACKUP FAILURE, ACME (acme) (already RESOLVED)", each skipped alert
// linked. One that changed nothing is a problem.
func bulkNotice(ctx context.Context, p *request, done string, res httpapi.BulkResult) (notice, error) {
	n := notice{Text: fmt.Sprintf("%s %d %s.", done, len(res.Updated), plural(len(res.Updated), "alert", "alerts")), Left: len(res.Skipped)}
	if len(res.Updated) == 0 {
		n.Text, n.Problem = "Nothing was changed.", true
	}
	var set store.NameSet
	var found []alert.Alert
	for _, sk := range res.Skipped[:min(len(res.Skipped), namedSkipped)] {
		s := skippedAlert{ID: sk.ID, Reason: sk.Reason}
		if id, err := uuid.Parse(sk.ID); err == nil && sk.Reason != "not found" {
			a, err := store.GetAlert(ctx, p.tx, id, false)
			switch {
			case err == nil:
				found = append(found, a)
				set.Tenant(a.TenantID)
			case !errors.Is(err, store.ErrNotFound):
				return n, err
			}
		}
		n.Skipped = append(n.Skipped, s)
	}
	names, err := store.LookupNames(ctx, p.tx, set)
	if err != nil {
		return n, err
	}
	for i := range n.Skipped {
		for _, a := range found {
			if a.ID.String() == n.Skipped[i].ID {
				n.Skipped[i].Name = alertName(a, names.Tenant(a.TenantID))
			}
		}
	}
	return n, nil
}

// alertName names an alert in a sentence or a label: its type and tenant.
func alertName(a alert.Alert, t *store.TenantName) string {
	if t == nil {
		return wordsOf(string(a.Type)) + ", no tenant"
	}
	return wordsOf(string(a.Type)) + ", " + tenantLabel(t)
}

// refuse sends the browser to back with msg as the next page's problem:
// nothing was changed.
func (c *Console) refuse(p *request, back, msg string) (*view, error) {
	return c.bounce(p, back, notice{Text: msg, Problem: true})
}

// bounce sends the browser to back with n for the next page to show.
// The notice rides in a cookie, which a browser drops whole past 4 KB:
// long tenant names lose the skipped alerts' names first, then the list
// (the line still counts them).
func (c *Console) bounce(p *request, back string, n notice) (*view, error) {
	var v string
	for try := 0; ; try++ {
		b, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		if v = base64.RawURLEncoding.EncodeToString(b); len(v) <= maxNotice || try == 2 {
			break
		}
		if try == 0 {
			for i := range n.Skipped {
				n.Skipped[i].Name = ""
			}
		} else {
			n.Skipped = nil
		}
	}
	http.SetCookie(p.w, c.cookie(p.r, flashCookie, v, 60))
	return &view{Redirect: back}, nil
}

// maxNotice is the most a notice's cookie value holds (base64), under the
// 4 KB a browser keeps of a cookie with its name and attributes.
const maxNotice = 3500

// flashCookie carries the line that says what a change did to the page
// the browser is sent to next.
const flashCookie = "bw_flash"

// takeNotice reads and clears the line a change left for this page (nil:
// none).
func (c *Console) takeNotice(w http.ResponseWriter, r *http.Request) *notice {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, c.cookie(r, flashCookie, "", -1))
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) > 4000 {
		return nil
	}
	var n notice
	if err := json.Unmarshal(b, &n); err != nil || n.Text == "" {
		return nil
	}
	return &n
}

// shortLink is the SMS's link to an alert: /console/a/<22 characters>.
func (c *Console) shortLink(ctx context.Context, p *request) (*view, error) {
	id, ok := alert.ParseShortID(p.r.PathValue("short"))
	if !ok {
		return nil, store.ErrNotFound
	}
	return &view{Redirect: Prefix + "/alerts/" + id.String()}, nil
}

// The status page: what an on-call engineer asks first.

type severityCount struct {
	Severity string
	Count    int
	Exact    bool
	URL      string
}

type statusData struct {
	Open       []severityCount
	OpenTotal  int
	Newest     []AlertRow
	Bad        []seriesRow
	Series     int
	OK         int
	Targets    []targetRow
	Scoped     bool
	LastFailed *backup.Backup
}

// seriesRow is a series as the status pages show it, its tenant by name
// and slug.
type seriesRow struct {
	check.SeriesStatus
	TenantName *store.TenantName
	// On the series page: the size rule's reading of its newest completed
	// backup (nil: none), and when a restore of its backups last
	// completed (nil: never).
	Usual       *rule.SizeReading
	SizeRuleOn  bool // its policy has a size rule
	LastRestore *time.Time
}

// SizeCell is what the series page says of its newest backup's size
// against its usual one: "as usual", or, flagged, an arrow and how far.
func (r seriesRow) SizeCell() template.HTML {
	switch {
	case r.LastCompleted == nil:
		return "—"
	case r.Usual == nil && r.SizeRuleOn:
		return `<span class="muted">not judged yet: too few backups, or reported since the last check run</span>`
	case r.Usual == nil:
		return `<span class="muted">no size rule</span>`
	case !r.Usual.Far():
		return template.HTML(esc(r.Usual.Against()))
	}
	arrow := "↑"
	if float64(r.Usual.Newest) < r.Usual.Usual() {
		arrow = "↓"
	}
	return template.HTML(`<strong class="size-far ` + toneOf(string(r.Usual.Severity)) + `"><span aria-hidden="true">` + arrow + `</span> ` +
		esc(r.Usual.Against()) + `</strong>`)
}

// Why links to what says why a series is not OK: for a failing one, its
// failed backups and its BACKUP_FAILURE alerts; for a late one (or one
// without a completed backup), its BACKUP_MISSING alerts.
func (r seriesRow) Why() []link {
	key := backup.Series{Type: r.BackupType, TenantID: r.TenantID}.Key()
	q := url.Values{"backup_type": {string(r.BackupType)}}
	if r.TenantID != nil {
		q.Set("tenant_id", r.TenantID.String())
	}
	var size []link
	if r.Usual != nil && r.Usual.Far() {
		size = []link{{"its size alert", Prefix + "/alerts?" + url.Values{"fingerprint": {alert.Fingerprint(alert.SizeDeviation, key)}}.Encode()}}
	}
	switch r.State {
	case check.Failing:
		q.Set("status", "FAILED")
		return append([]link{{"its failed backups", Prefix + "/backups?" + q.Encode()},
			{"its failure alerts", Prefix + "/alerts?" + url.Values{"fingerprint": {alert.Fingerprint(alert.BackupFailure, key)}}.Encode()}}, size...)
	case check.Late, check.NoData:
		return append([]link{{"its missing-backup alerts", Prefix + "/alerts?" + url.Values{"fingerprint": {alert.Fingerprint(alert.BackupMissing, key)}}.Encode()}}, size...)
	}
	return size
}

// link is a link's words and where it goes.
type link struct{ Label, URL string }

func seriesRowsOf(ss []check.SeriesStatus, n store.Names) []seriesRow {
	rows := make([]seriesRow, len(ss))
	for i, s := range ss {
		rows[i] = seriesRow{SeriesStatus: s, TenantName: n.Tenant(s.TenantID)}
	}
	return rows
}

type targetRow struct {
	check.TargetStatus
	Severity alert.Severity // the storage rule's ("": under the warning level)
	Bar      template.HTML
}

func (c *Console) status(ctx context.Context, p *request) (*view, error) {
	d := statusData{Scoped: p.who.Tenant != nil}
	open := []alert.Status{alert.Active, alert.Acknowledged}
	for _, sev := range severities {
		n, exact, err := store.CountAlerts(ctx, p.tx, store.AlertFilter{Statuses: open, Severities: []alert.Severity{alert.Severity(sev)}, TenantID: p.who.Tenant})
		if err != nil {
			return nil, err
		}
		d.OpenTotal += n
		d.Open = append(d.Open, severityCount{Severity: sev, Count: n, Exact: exact,
			URL: Prefix + "/alerts?status=ACTIVE,ACKNOWLEDGED&severity=" + sev})
	}
	as, _, err := store.ListAlerts(ctx, p.tx, store.AlertFilter{Statuses: open, TenantID: p.who.Tenant}, store.Page{Limit: 3})
	if err != nil {
		return nil, err
	}
	st, err := c.checks.ReadStatus(ctx, p.tx, check.StatusFilter{Tenant: p.who.Tenant}, p.now)
	if err != nil {
		return nil, err
	}
	d.Series = len(st.Series)
	var bad []check.SeriesStatus
	for _, s := range st.Series {
		if s.State == check.OK {
			d.OK++
		} else {
			bad = append(bad, s)
		}
	}
	// The alerts' names and the series' tenants in one round trip.
	set := alertNameSet(as)
	for _, s := range bad {
		set.Tenant(s.TenantID)
	}
	names, err := store.LookupNames(ctx, p.tx, set)
	if err != nil {
		return nil, err
	}
	d.Newest, d.Bad = alertRowsOf(as, names), seriesRowsOf(bad, names)
	for _, t := range st.StorageTargets {
		sev := storageSeverity(t)
		d.Targets = append(d.Targets, targetRow{TargetStatus: t, Severity: sev, Bar: usageBar(t, sev)})
	}
	failed, _, err := store.ListBackups(ctx, p.tx, store.BackupFilter{Statuses: []backup.Status{backup.Failed}, TenantID: p.who.Tenant}, store.Page{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(failed) > 0 {
		d.LastFailed = &failed[0]
	}
	return &view{Page: "status", Title: "Status", Data: &d}, nil
}

// The series page: every series with its state and the age of its last
// backup, worst first, a page at a time (the status page lists only those
// that are not OK). It reads the status as GET /v1/status does.

// seriesPage is how many series a page of the series page shows.
const seriesPage = 50

// seriesStates are the series page's state choices, worst first.
var seriesStates = []string{string(check.Failing), string(check.NoData), string(check.Late), string(check.OK)}

type seriesData struct {
	Q      listQuery
	Rows   []seriesRow
	States []string
	// Next is the URL of the next page ("": this is the last); First the
	// first page's, when this is not it.
	Next, First string
	Limit       int
}

func (c *Console) series(ctx context.Context, p *request) (*view, error) {
	q := listQuery{Path: Prefix + "/series", V: p.r.URL.Query()}
	d := seriesData{Q: q, States: seriesStates, Limit: seriesPage}
	v := &view{Page: "series", Title: "Every series", Data: &d}
	f, err := c.seriesFilter(ctx, p, q)
	if err != nil {
		return v, refused(v, err)
	}
	d.Limit = f.Limit
	if f.After != nil {
		d.First = q.With("cursor", "")
	}
	st, err := c.checks.ReadStatus(ctx, p.tx, f, p.now)
	if err != nil {
		return nil, err
	}
	// The names and the size histories in one round trip; when each
	// series' backups were last restored in another (store.ReadUpkeep,
	// as the restore-test rule reads it).
	var (
		set     store.NameSet
		b       pgx.Batch
		series  = make([]backup.Series, len(st.Series))
		upkeeps = make([]store.UpkeepAsk, len(st.Series))
	)
	for i, s := range st.Series {
		set.Tenant(s.TenantID)
		series[i] = backup.Series{Type: s.BackupType, TenantID: s.TenantID}
		upkeeps[i] = store.UpkeepAsk{Series: series[i], Restores: true}
	}
	names := store.QueueNames(&b, set)
	sizes := store.QueueSeriesSizes(&b, series)
	if err := p.tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	restored, err := store.ReadUpkeep(ctx, p.tx, upkeeps)
	if err != nil {
		return nil, err
	}
	d.Rows = seriesRowsOf(st.Series, *names)
	for i := range d.Rows {
		r := &d.Rows[i]
		r.LastRestore = restored[series[i].Key()].LastRestore
		z := sizes[series[i].Key()]
		r.SizeRuleOn = z != nil && z.Percent != nil
		if last := r.LastCompleted; last != nil && r.SizeRuleOn {
			if u, ok := rule.SizeOf(z.History, z.Percent, z.MinHistory, backup.Backup{ID: last.ID, SizeBytes: last.SizeBytes, CreatedAt: last.CreatedAt}); ok {
				r.Usual = &u
			}
		}
	}
	if st.Next != nil {
		secret, err := c.cursorSecret(ctx)
		if err != nil {
			return nil, err
		}
		d.Next = q.With("cursor", httpapi.EncodeStatusCursor(secret, *st.Next))
	}
	return v, nil
}

// seriesFilter reads the series page's query: a state, the page's size,
// and where it starts (a cursor sealed as GET /v1/status's are).
func (c *Console) seriesFilter(ctx context.Context, p *request, q listQuery) (check.StatusFilter, error) {
	f := check.StatusFilter{Tenant: p.who.Tenant, Limit: seriesPage}
	if err := httpapi.CheckParams(p.r.URL.RawQuery, []string{"state", "limit", "cursor"}); err != nil {
		return f, err
	}
	if s := strings.TrimSpace(q.Get("limit")); s != "" {
		n, err := pageLimit(s)
		if err != nil {
			return f, err
		}
		f.Limit = n
	}
	if s := q.Get("state"); s != "" {
		if !slices.Contains(seriesStates, s) {
			return f, &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: "validation_failed",
				Message: "state must be one of " + strings.Join(seriesStates, ", ")}
		}
		f.States = []check.State{check.State(s)}
	}
	if s := strings.TrimSpace(q.Get("cursor")); s != "" {
		secret, err := c.cursorSecret(ctx)
		if err != nil {
			return f, err
		}
		pos, ok := httpapi.DecodeStatusCursor(secret, s)
		if !ok {
			return f, errBadCursor
		}
		f.After = &pos
	}
	return f, nil
}

// The storage page: each target's use over the last 60 days, with the
// forecast to its capacity.

type storageData struct {
	Targets []storageTarget
	Scoped  bool
}

type storageTarget struct {
	check.TargetStatus
	Severity alert.Severity // the storage rule's ("": under the warning level)
	Chart    template.HTML
}

// storageDays is how far back the storage charts go.
const storageDays = 60

func (c *Console) storage(ctx context.Context, p *request) (*view, error) {
	d := storageData{Scoped: p.who.Tenant != nil}
	v := &view{Page: "storage", Title: "Storage", Data: &d}
	if d.Scoped {
		return v, nil
	}
	st, err := c.checks.ReadStatus(ctx, p.tx, check.StatusFilter{Limit: 1}, p.now)
	if err != nil {
		return nil, err
	}
	today := time.Date(p.now.Year(), p.now.Month(), p.now.Day(), 0, 0, 0, 0, time.UTC)
	added, err := store.StorageAdded(ctx, p.tx, today.AddDate(0, 0, -storageDays))
	if err != nil {
		return nil, err
	}
	for _, t := range st.StorageTargets {
		d.Targets = append(d.Targets, storageTarget{TargetStatus: t, Severity: storageSeverity(t), Chart: storageChart(t, added, today, p.now)})
	}
	return v, nil
}
