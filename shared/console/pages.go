package console

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
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
	d.Sentence = restoreSentence(d.RestoreRow)
	return &view{Page: "restore", Title: "Restore of " + r.Backup.Filename, Data: &d}, nil
}

// restoreSentence tells a restore as the audit trail reads it: "Ana
// restored acme's backup of 26 Nov 02:00 (PITR to 25 Nov 18:30) for
// OPS-1234; it completed in 4m, 120,034 rows."
func restoreSentence(r RestoreRow) string {
	who := "Someone"
	if r.InitiatedBy != nil {
		who = r.InitiatedBy.Name
	}
	whose := "the"
	if len(r.Tenants) > 0 {
		var names []string
		for _, t := range r.Tenants {
			if t.Slug != nil {
				names = append(names, *t.Slug)
			} else {
				names = append(names, tenantLabel(&t))
			}
		}
		whose = strings.Join(names, ", ") + "'s"
	}
	s := fmt.Sprintf("%s restored %s backup of %s (%s", who, whose, r.Backup.CreatedAt.UTC().Format("2 Jan 15:04"), r.Mode)
	if r.TargetTimestamp != nil {
		s += " to " + r.TargetTimestamp.UTC().Format("2 Jan 15:04")
	}
	s += ") for " + strings.TrimSpace(r.Reason) + "; "
	switch r.Status {
	case restore.InProgress:
		s += "it is still running."
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

// event is one line of an alert's timeline.
type event struct {
	At   time.Time
	What string
	Who  string
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
	d := alertData{AlertRow: rows[0], Details: prettyJSON(a.Details), Short: alert.ShortID(a.ID)}
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
	d.Timeline = timeline(d.AlertRow, ns)
	if s, ok := alertSeries(a); ok && (a.Type == alert.SizeDeviation || a.Type == alert.DurationThreshold) {
		if d.Chart, err = c.chartOf(ctx, p, s, a.BackupID); err != nil {
			return nil, err
		}
	}
	return &view{Page: "alert", Title: string(a.Type) + " alert", Data: &d}, nil
}

// timeline is what happened to an alert, oldest first: opened, seen again,
// escalated, each notification, acknowledged, resolved.
func timeline(a AlertRow, ns []alert.Notification) []event {
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
		ev = append(ev, event{At: a.LastSeenAt, What: "Seen again (last time)"})
	}
	if a.AcknowledgedAt != nil {
		ev = append(ev, event{At: *a.AcknowledgedAt, What: "Acknowledged", Who: userLabel(a.AcknowledgedBy)})
	}
	if a.ResolvedAt != nil {
		e := event{At: *a.ResolvedAt, What: "Resolved", Who: userLabel(a.ResolvedBy)}
		if a.ResolvedBy == nil {
			e.Who = "the system"
		}
		if a.ResolutionNotes != "" {
			e.What += ": " + a.ResolutionNotes
		}
		ev = append(ev, e)
	}
	slices.SortStableFunc(ev, func(x, y event) int { return x.At.Compare(y.At) })
	return ev
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
	return c.bulk(ctx, p, "notes", false, "Acknowledged", func(id uuid.UUID, notes string) error {
		_, err := c.alerts.ForRun().Acknowledge(ctx, p.tx, id, &p.who.UserID, notes, p.now)
		return err
	})
}

func (c *Console) resolve(ctx context.Context, p *request) (*view, error) {
	return c.bulk(ctx, p, "resolution_notes", true, "Resolved", func(id uuid.UUID, notes string) error {
		_, err := c.alerts.ForRun().Resolve(ctx, p.tx, id, &p.who.UserID, notes, p.now)
		if err == nil {
			p.alerted = true
		}
		return err
	})
}

// bulk applies a change to the alerts the form selected (httpapi.Bulk, as
// the API's bulk routes do), then sends the browser back where the form
// was with what happened. A form that breaks a rule changes nothing.
func (c *Console) bulk(ctx context.Context, p *request, field string, required bool, done string, apply func(uuid.UUID, string) error) (*view, error) {
	form := p.r.PostForm
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
	var ids []uuid.UUID
	for _, s := range form["ids"] {
		id, err := uuid.Parse(s)
		if err != nil {
			return c.bounce(p, back, "Nothing was changed: "+strings.TrimSpace(s)+" is not an alert id.")
		}
		ids = append(ids, id)
	}
	switch {
	case len(ids) == 0:
		return c.bounce(p, back, "Nothing was changed: select at least one alert.")
	case len(ids) > httpapi.MaxBulk:
		return c.bounce(p, back, fmt.Sprintf("Nothing was changed: select at most %d alerts at once.", httpapi.MaxBulk))
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
		return c.bounce(p, back, "Nothing was changed: "+label+" "+errs[0].Message+".")
	}
	res, err := httpapi.Bulk(ids, func(id uuid.UUID) error { return apply(id, notes) })
	if err != nil {
		return nil, err
	}
	return c.bounce(p, back, bulkSentence(done, res))
}

// bulkSentence says what a bulk change did: "Acknowledged 3 alerts.
// Skipped 1: 1a2b3c4d already RESOLVED."
func bulkSentence(done string, res httpapi.BulkResult) string {
	s := fmt.Sprintf("%s %d %s.", done, len(res.Updated), plural(len(res.Updated), "alert", "alerts"))
	if len(res.Skipped) > 0 {
		var why []string
		for _, sk := range res.Skipped {
			why = append(why, sk.ID[:8]+" "+sk.Reason)
		}
		s += fmt.Sprintf(" Skipped %d: %s.", len(res.Skipped), strings.Join(why, "; "))
	}
	return s
}

// bounce sends the browser to back with msg as the next page's flash line.
func (c *Console) bounce(p *request, back, msg string) (*view, error) {
	http.SetCookie(p.w, c.cookie(p.r, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60))
	return &view{Redirect: back}, nil
}

// flashCookie carries the line that says what a change did to the page
// the browser is sent to next.
const flashCookie = "bw_flash"

// takeFlash reads and clears the flash line.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, c.cookie(r, flashCookie, "", -1))
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) > 4000 {
		return ""
	}
	return string(b)
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
	Bad        []check.SeriesStatus
	Series     int
	OK         int
	Targets    []targetRow
	Scoped     bool
	LastFailed *backup.Backup
	Tenant     string
}

type targetRow struct {
	check.TargetStatus
	Bar template.HTML
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
	if d.Newest, err = alertRows(ctx, p, as); err != nil {
		return nil, err
	}
	st, err := c.checks.ReadStatus(ctx, p.tx, check.StatusFilter{Tenant: p.who.Tenant}, p.now)
	if err != nil {
		return nil, err
	}
	d.Series = len(st.Series)
	for _, s := range st.Series {
		if s.State == check.OK {
			d.OK++
		} else {
			d.Bad = append(d.Bad, s)
		}
	}
	for _, t := range st.StorageTargets {
		d.Targets = append(d.Targets, targetRow{TargetStatus: t, Bar: usageBar(t)})
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

// The storage page: each target's use over the last 60 days, with the
// forecast to its capacity.

type storageData struct {
	Targets []storageTarget
	Scoped  bool
}

type storageTarget struct {
	check.TargetStatus
	Chart template.HTML
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
		d.Targets = append(d.Targets, storageTarget{TargetStatus: t, Chart: storageChart(t, added, today, p.now)})
	}
	return v, nil
}
