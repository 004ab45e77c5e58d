package notify_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/notify"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// Silences hold notifications, not drop them (API.md 1.1, "Routing,
// silences"): each test reports a failed FULL_DATABASE backup (CRITICAL:
// email, SMS and webhook) over HTTP and counts what goaws delivered.

// silence creates a silence of FULL_DATABASE backups for the next hour and
// returns its id.
func (b *bench) silence(t *testing.T) string {
	t.Helper()
	now := b.Clock.Now()
	return b.Call(t, 201, "POST", "/v1/silences", b.operator, map[string]any{
		"matchers":  map[string]any{"backup_type": "FULL_DATABASE"},
		"starts_at": now.Format(time.RFC3339Nano), "ends_at": now.Add(time.Hour).Format(time.RFC3339Nano),
		"comment": "planned migration"})["id"].(string)
}

// silenced is what the API says of alert id.
func (b *bench) silenced(t *testing.T, id string) bool {
	t.Helper()
	return b.Call(t, 200, "GET", "/v1/alerts/"+id, b.operator, nil)["silenced"].(bool)
}

// TestSilenceHoldsThenNotifiesOnce: an alert opened under a silence is
// opened (in the API, silenced: true) but nobody is told; when the silence
// ends with the alert still ACTIVE, each channel is told once, at the
// alert's current severity, and never again.
func TestSilenceHoldsThenNotifiesOnce(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b := newBench(t, g, snsRelay(t, g, notify.Config{}))
	ctx := context.Background()
	b.silence(t)

	id := b.failFull(t, "full-2026-11-29.dump")
	wantCounts(t, b, 0, 0, 0)
	if !b.silenced(t, id) {
		t.Error("the alert does not say it is silenced")
	}
	if got := b.states(t, id); !maps.Equal(got, map[string]int{
		"email/opened/SILENCED": 1, "sms/opened/SILENCED": 1, "webhook/opened/SILENCED": 1,
	}) {
		t.Fatalf("outbox under the silence: %v", got)
	}
	for _, n := range b.outbox(t, id) {
		if !strings.Contains(n.LastError, "planned migration") {
			t.Errorf("a held row does not say which silence holds it: %q", n.LastError)
		}
	}
	// Relaying again while the silence holds sends nothing.
	b.Clock.Advance(59 * time.Minute)
	if res, err := b.relay.Drain(ctx); err != nil || res.Sent != 0 || res.Released != 0 {
		t.Fatalf("under the silence: %+v %v", res, err)
	}
	wantCounts(t, b, 0, 0, 0)

	// The silence ends; the next relay (a check run's) tells each channel once.
	b.Clock.Advance(2 * time.Minute)
	res, err := b.relay.Drain(ctx)
	if err != nil || res.Released != 1 || res.Sent != 3 {
		t.Fatalf("after the silence: %+v %v", res, err)
	}
	wantCounts(t, b, 1, 1, 1)
	for _, topic := range []string{emailTopic, smsTopic, webhookTopic} {
		want := map[string]string{"severity": "CRITICAL", "alert_type": "BACKUP_FAILURE", "event": "opened"}
		if got := b.received(topic)[0].Attrs(); !maps.Equal(got, want) {
			t.Errorf("%s: %v, want %v", topic, got, want)
		}
	}
	if b.silenced(t, id) {
		t.Error("the alert still says it is silenced")
	}
	if res, err := b.relay.Drain(ctx); err != nil || res.Sent != 0 || res.Released != 0 {
		t.Fatalf("a second relay after the silence: %+v %v", res, err)
	}
	wantCounts(t, b, 1, 1, 1)

	// Resolved now, the channels told of it hear that it is resolved.
	b.Call(t, 200, "POST", "/v1/alerts/"+id+"/resolve", b.operator, map[string]any{"resolution_notes": "done"})
	wantCounts(t, b, 2, 2, 2)
}

// TestSilenceResolvedUnheard: an alert that opens and resolves under a
// silence sends nothing, during the silence or after it.
func TestSilenceResolvedUnheard(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b := newBench(t, g, snsRelay(t, g, notify.Config{}))
	b.silence(t)
	id := b.failFull(t, "full-2026-11-29.dump")
	b.Call(t, 200, "POST", "/v1/alerts/"+id+"/resolve", b.operator, map[string]any{"resolution_notes": "rerun worked"})
	wantCounts(t, b, 0, 0, 0)
	b.Clock.Advance(2 * time.Hour)
	if res, err := b.relay.Drain(context.Background()); err != nil || res.Sent != 0 {
		t.Fatalf("after the silence: %+v %v", res, err)
	}
	wantCounts(t, b, 0, 0, 0)
	if got := b.states(t, id); !maps.Equal(got, map[string]int{
		"email/opened/SILENCED": 1, "sms/opened/SILENCED": 1, "webhook/opened/SILENCED": 1,
		"email/resolved/SILENCED": 1, "sms/resolved/SILENCED": 1, "webhook/resolved/SILENCED": 1,
	}) {
		t.Errorf("outbox: %v", got)
	}
}

// TestSilenceKeepsResolvedNotice: an alert whose opening was sent before
// the silence began still gets its resolved notice during the silence.
func TestSilenceKeepsResolvedNotice(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b := newBench(t, g, snsRelay(t, g, notify.Config{}))
	id := b.failFull(t, "full-2026-11-29.dump")
	wantCounts(t, b, 1, 1, 1)
	b.Clock.Advance(time.Minute)
	b.silence(t)
	if !b.silenced(t, id) {
		t.Error("the alert does not say it is silenced")
	}
	b.Call(t, 200, "POST", "/v1/alerts/"+id+"/resolve", b.operator, map[string]any{"resolution_notes": "done"})
	wantCounts(t, b, 2, 2, 2)
	for _, topic := range []string{emailTopic, smsTopic, webhookTopic} {
		if ev := b.received(topic)[1].Attrs()["event"]; ev != "resolved" {
			t.Errorf("%s heard %q, want resolved", topic, ev)
		}
	}
}

// TestSilenceExpiredAcknowledged: expiring a silence (DELETE) releases at
// once what it held, so an ACTIVE alert is told then; an acknowledged one
// is not (someone is on it), then or later.
func TestSilenceExpiredAcknowledged(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b := newBench(t, g, snsRelay(t, g, notify.Config{}))
	sil := b.silence(t)
	acked := b.failFull(t, "full-2026-11-29.dump")
	b.Call(t, 200, "POST", "/v1/alerts/"+acked+"/acknowledge", b.operator, map[string]any{"notes": "migrating"})
	b.Call(t, 201, "POST", "/v1/backups", b.job, map[string]any{"backup_type": "CONFIGURATION",
		"filename": "cfg.tar", "status": "FAILED", "notes": "not silenced: another type"})
	wantCounts(t, b, 1, 0, 1) // CONFIGURATION's failure is ERROR: email and webhook
	b.Clock.Advance(time.Minute)
	b.Call(t, 204, "DELETE", "/v1/silences/"+sil, b.operator, nil)
	wantCounts(t, b, 1, 0, 1)
	b.Clock.Advance(time.Hour)
	if res, err := b.relay.Drain(context.Background()); err != nil || res.Sent != 0 {
		t.Fatalf("later: %+v %v", res, err)
	}
	wantCounts(t, b, 1, 0, 1)

	// A second alert, under a second silence, still ACTIVE when that silence
	// is expired: told at once, by the DELETE request's relay.
	b.Call(t, 200, "POST", "/v1/alerts/"+acked+"/resolve", b.operator, map[string]any{"resolution_notes": "done"})
	wantCounts(t, b, 1, 0, 1) // never told of it: no resolved notice either
	sil = b.silence(t)
	b.Call(t, 201, "POST", "/v1/backups", b.job, map[string]any{"backup_type": "FULL_DATABASE",
		"filename": "full-2026-11-30.dump", "status": "FAILED", "notes": "pg_dump exited 1"})
	wantCounts(t, b, 1, 0, 1)
	b.Call(t, 204, "DELETE", "/v1/silences/"+sil, b.operator, nil)
	wantCounts(t, b, 2, 1, 2)
}

// TestSilenceReleasesEscalationAtCurrentSeverity: an alert told at WARNING
// (email) before the silence escalates to ERROR under it (held); when the
// silence ends, the channels of its current severity (email and webhook)
// hear "escalated" at ERROR, once. The checks run by POST /v1/checks/run.
func TestSilenceReleasesEscalationAtCurrentSeverity(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b, run := newCheckedBench(t, g, 0)
	acme := b.Tenant(t, "acme")
	report := func(name string, size int64) {
		t.Helper()
		b.Clock.Advance(time.Hour)
		b.Call(t, 201, "POST", "/v1/backups", b.job, testenv.Completed("TENANT_BACKUP", acme, name, size))
	}
	for i, name := range []string{"w1", "w2", "w3", "w4"} {
		report(name, 1000+int64(i))
	}
	report("w5", 1700) // 70 % over the median: WARNING
	run()
	wantCounts(t, b, 1, 0, 0)
	if a := b.received(emailTopic)[0].Attrs(); a["severity"] != "WARNING" || a["alert_type"] != "SIZE_DEVIATION" {
		t.Fatalf("first email %v", a)
	}
	now := b.Clock.Now()
	b.Call(t, 201, "POST", "/v1/silences", b.operator, map[string]any{
		"matchers": map[string]any{"tenant_id": acme, "alert_type": "SIZE_DEVIATION"},
		"ends_at":  now.Add(3 * time.Hour).Format(time.RFC3339Nano)})
	report("w6", 50) // under 10 % of the median: ERROR, the same alert escalated
	run()
	wantCounts(t, b, 1, 0, 0)
	id := b.openAlert(t, "SIZE_DEVIATION")
	if got := b.states(t, id); got["email/escalated/SILENCED"] != 1 || got["webhook/escalated/SILENCED"] != 1 {
		t.Fatalf("outbox under the silence: %v", got)
	}
	b.Clock.Advance(3 * time.Hour)
	run()
	wantCounts(t, b, 2, 0, 1)
	for _, topic := range []string{emailTopic, webhookTopic} {
		got := b.received(topic)
		want := map[string]string{"severity": "ERROR", "alert_type": "SIZE_DEVIATION", "event": "escalated"}
		if a := got[len(got)-1].Attrs(); !maps.Equal(a, want) {
			t.Errorf("%s: %v, want %v", topic, a, want)
		}
	}
	run()
	wantCounts(t, b, 2, 0, 1)
}

// TestSilenceReleasesBehindStillHeld: the release pass reads the held
// alerts a page at a time, oldest first; a page full of alerts still
// silenced does not hide a younger one whose silence has ended.
func TestSilenceReleasesBehindStillHeld(t *testing.T) {
	notify.SetHeldPage(t, 2)
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b := newBench(t, g, snsRelay(t, g, notify.Config{}))
	ctx := context.Background()
	now := b.Clock.Now()
	b.Call(t, 201, "POST", "/v1/silences", b.operator, map[string]any{
		"matchers": map[string]any{"backup_type": "TENANT_BACKUP"},
		"ends_at":  now.Add(3 * time.Hour).Format(time.RFC3339Nano), "comment": "tenant moves"})
	for _, name := range []string{"acme", "globex", "initech"} { // three held alerts: more than a page
		b.Call(t, 201, "POST", "/v1/backups", b.job, map[string]any{"backup_type": "TENANT_BACKUP",
			"tenant_id": b.Tenant(t, name), "filename": name + ".dump", "status": "FAILED", "notes": "exited 1"})
	}
	b.silence(t) // FULL_DATABASE, one hour
	b.Call(t, 201, "POST", "/v1/backups", b.job, map[string]any{"backup_type": "FULL_DATABASE",
		"filename": "full-2026-11-29.dump", "status": "FAILED", "notes": "pg_dump exited 1"})
	wantCounts(t, b, 0, 0, 0)

	b.Clock.Advance(61 * time.Minute)
	res, err := b.relay.Drain(ctx)
	if err != nil || res.Released != 1 || res.Sent != 3 {
		t.Fatalf("after the FULL_DATABASE silence: %+v %v", res, err)
	}
	wantCounts(t, b, 1, 1, 1)
	if a := b.received(smsTopic)[0].Attrs(); a["severity"] != "CRITICAL" || a["event"] != "opened" {
		t.Errorf("SMS after the silence: %v", a)
	}

	b.Clock.Advance(2 * time.Hour)
	if res, err := b.relay.Drain(ctx); err != nil || res.Released != 3 {
		t.Fatalf("after the TENANT_BACKUP silence: %+v %v", res, err)
	}
}
