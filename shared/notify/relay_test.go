package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/config"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/notify"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// The three SNS topics, as the template names them.
const (
	emailTopic   = "backupwatch-alerts-email"
	smsTopic     = "backupwatch-alerts-sms"
	webhookTopic = "backupwatch-alerts-webhook"
)

// bench is one test's world: the API on a fresh database, with the relay as
// its AfterAlert hook, and (when asked) goaws with a subscriber per topic.
type bench struct {
	*testenv.API
	goaws    *testenv.Goaws
	relay    *notify.Relay
	operator string
	job      string
}

// newBench starts the API whose hook runs the relay that build returns
// (called once the database and the clock exist).
func newBench(t *testing.T, g *testenv.Goaws, build func(api *testenv.API) *notify.Relay) *bench {
	t.Helper()
	b := &bench{goaws: g}
	hook := func(ctx context.Context) { b.relay.AfterAlert(ctx) }
	b.API = testenv.NewAPIWith(t, httpapi.Config{Logger: testenv.Quiet(), Hooks: httpapi.Hooks{AfterAlert: hook}})
	b.relay = build(b.API)
	b.operator = b.Key(t, "operator", "")
	b.job = b.Key(t, "job", "")
	return b
}

// topics are the bench's goaws topics.
func (b *bench) topics() notify.Topics {
	return notify.Topics{Email: b.goaws.ARN(emailTopic), SMS: b.goaws.ARN(smsTopic), Webhook: b.goaws.ARN(webhookTopic)}
}

// snsRelay is a relay publishing to goaws through the SDK, on the API's clock.
func snsRelay(t *testing.T, g *testenv.Goaws, cfg notify.Config) func(api *testenv.API) *notify.Relay {
	return func(api *testenv.API) *notify.Relay {
		pub, err := notify.NewSNS(context.Background(), g.SNSOptions)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Pool, cfg.Publisher, cfg.Now, cfg.Logger = api.Pool, pub, api.Clock.Now, testenv.Quiet()
		if cfg.Topics == (notify.Topics{}) {
			cfg.Topics = notify.Topics{Email: g.ARN(emailTopic), SMS: g.ARN(smsTopic), Webhook: g.ARN(webhookTopic)}
		}
		return notify.NewRelay(cfg)
	}
}

// failFull reports a failed FULL_DATABASE backup (a CRITICAL alert: all
// four channels) and returns the alert's id.
func (b *bench) failFull(t *testing.T, filename string) string {
	t.Helper()
	b.Call(t, 201, "POST", "/v1/backups", b.job, map[string]any{"backup_type": "FULL_DATABASE",
		"filename": filename, "status": "FAILED", "notes": "pg_dump exited 1: No space left on device"})
	return b.openAlert(t, "BACKUP_FAILURE")
}

// openAlert is the id of the one unresolved alert of type typ.
func (b *bench) openAlert(t *testing.T, typ string) string {
	t.Helper()
	l := b.Call(t, 200, "GET", "/v1/alerts?status=ACTIVE,ACKNOWLEDGED&alert_type="+typ, b.operator, nil)
	items := l["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("%d open %s alerts, want 1: %v", len(items), typ, items)
	}
	return items[0].(map[string]any)["id"].(string)
}

// outbox reads the notifications of alert id, as the owner (no RLS).
func (b *bench) outbox(t *testing.T, id string) []alert.Notification {
	t.Helper()
	var ns []alert.Notification
	err := store.InScope(context.Background(), b.Owner, store.AllTenants, func(tx pgx.Tx) error {
		var err error
		ns, err = store.ListNotifications(context.Background(), tx, uuid.MustParse(id))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// states counts the outbox rows of alert id by "channel/event/state".
func (b *bench) states(t *testing.T, id string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range b.outbox(t, id) {
		out[fmt.Sprintf("%s/%s/%s", n.Channel, n.Event, n.State)]++
	}
	return out
}

// received is what topic's subscriber got, in order.
func (b *bench) received(topic string) []testenv.SNSNotification {
	return b.goaws.Subscriber(topic).Received()
}

// counts is how many notifications each topic's subscriber received.
func (b *bench) counts() map[string]int {
	return map[string]int{emailTopic: len(b.received(emailTopic)), smsTopic: len(b.received(smsTopic)), webhookTopic: len(b.received(webhookTopic))}
}

func wantCounts(t *testing.T, b *bench, email, sms, webhook int) {
	t.Helper()
	want := map[string]int{emailTopic: email, smsTopic: sms, webhookTopic: webhook}
	if got := b.counts(); !maps.Equal(got, want) {
		t.Fatalf("subscribers received %v, want %v", got, want)
	}
}

// awsEnv points the SDK's own configuration at goaws, as
// AWS_ENDPOINT_URL_SNS does in a deployment's tests, and keeps a
// developer's ~/.aws out of it.
func awsEnv(t *testing.T, g *testenv.Goaws) {
	for k, v := range g.Env() {
		t.Setenv(k, v)
	}
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_PROFILE", "")
}

// TestFailedBackupReachesEveryChannel is the end-to-end case: a
// FULL_DATABASE backup reported FAILED over HTTP (CRITICAL) reaches the
// email, SMS and webhook topics' subscribers through goaws exactly once
// each, with the right subject, body, JSON and attributes; acknowledging
// sends nothing; resolving sends "resolved" to the same three. The relay is
// built the way serve and the functions build it, from the configuration,
// with the SDK finding goaws through AWS_ENDPOINT_URL_SNS.
func TestFailedBackupReachesEveryChannel(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	awsEnv(t, g)
	b := newBench(t, g, func(api *testenv.API) *notify.Relay {
		r, err := notify.FromConfig(context.Background(), config.Config{
			TopicEmail: g.ARN(emailTopic), TopicSMS: g.ARN(smsTopic), TopicWebhook: g.ARN(webhookTopic),
			NotifyMaxAttempts: 10, PublicURL: "https://backupwatch.example.com",
		}, api.Pool, testenv.Quiet(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
	for _, topic := range []string{emailTopic, smsTopic, webhookTopic} {
		if n := g.Subscriber(topic).Confirmed(); n != 1 {
			t.Errorf("%s: subscriber confirmed %d subscriptions, want 1", topic, n)
		}
	}

	id := b.failFull(t, "full-2026-11-26.dump")
	// The relay ran in the request, after its commit: everything has arrived.
	wantCounts(t, b, 1, 1, 1)
	api := b.Call(t, 200, "GET", "/v1/alerts/"+id, b.operator, nil)
	if api["notification_sent_at"] == nil {
		t.Errorf("notification_sent_at not stamped: %v", api)
	}
	for _, topic := range []string{emailTopic, smsTopic, webhookTopic} {
		n := b.received(topic)[0]
		want := map[string]string{"severity": "CRITICAL", "alert_type": "BACKUP_FAILURE", "event": "opened"}
		if !maps.Equal(n.Attrs(), want) || n.MessageAttributes["severity"].Type != "String" {
			t.Errorf("%s: attributes %v, want %v of type String", topic, n.MessageAttributes, want)
		}
		if n.TopicArn != g.ARN(topic) || n.Header.Get("X-Amz-Sns-Topic-Arn") != g.ARN(topic) {
			t.Errorf("%s: delivered from topic %q (header %q)", topic, n.TopicArn, n.Header.Get("X-Amz-Sns-Topic-Arn"))
		}
	}
	email := b.received(emailTopic)[0]
	if email.Subject != "[CRITICAL] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump" {
		t.Errorf("email subject %q", email.Subject)
	}
	for _, want := range []string{"A CRITICAL BACKUP_FAILURE alert was opened.", "No space left on device", id,
		"curl -X POST https://backupwatch.example.com/v1/alerts/" + id + "/acknowledge", "full-2026-11-26.dump (FULL_DATABASE, FAILED",
		// The alert's console page, and how to acknowledge it there.
		"The alert in the console: https://backupwatch.example.com/console/alerts/" + id + "\n", "and press Acknowledge"} {
		if !strings.Contains(email.Message, want) {
			t.Errorf("email body lacks %q:\n%s", want, email.Message)
		}
	}
	sms := b.received(smsTopic)[0]
	if sms.Subject != "" || utf8.RuneCountInString(sms.Message) > 140 ||
		!strings.HasPrefix(sms.Message, "backupwatch [CRITICAL] BACKUP_FAILURE: FULL_DATABASE backup full-2026") ||
		!strings.HasSuffix(sms.Message, " https://backupwatch.example.com/console/a/"+alert.ShortID(uuid.MustParse(id))) {
		t.Errorf("SMS %q (subject %q)", sms.Message, sms.Subject)
	}
	var hook map[string]any
	if err := json.Unmarshal([]byte(b.received(webhookTopic)[0].Message), &hook); err != nil {
		t.Fatalf("webhook message is not JSON: %v", err)
	}
	if hook["event"] != "opened" {
		t.Errorf("webhook event %v", hook["event"])
	}
	delete(hook, "event")
	// The webhook carries the API's alert object as it was when sent,
	// before the first send stamped notification_sent_at.
	delete(hook, "notification_sent_at")
	delete(api, "notification_sent_at")
	// The API adds names beside ids and whether a silence holds the alert
	// (API.md 1.1), which the webhook's stored alert does not carry.
	for _, k := range []string{"tenant", "acknowledged_by_user", "resolved_by_user", "silenced"} {
		delete(api, k)
	}
	if g, w := fmt.Sprint(hook), fmt.Sprint(api); g != w {
		t.Errorf("webhook alert\n got %s\nwant %s", g, w)
	}
	for _, n := range b.outbox(t, id) {
		if n.State != alert.DeliverySent || n.MessageID == "" || n.SentAt == nil || n.Attempts != 1 || n.LastError != "" {
			t.Errorf("outbox row %+v", n)
		}
	}

	// Acknowledging changes nothing for the subscribers, nor the outbox.
	b.Call(t, 200, "POST", "/v1/alerts/"+id+"/acknowledge", b.operator, map[string]any{"notes": "on it"})
	wantCounts(t, b, 1, 1, 1)
	if n := len(b.outbox(t, id)); n != 3 {
		t.Errorf("acknowledging wrote outbox rows: %d", n)
	}

	b.Call(t, 200, "POST", "/v1/alerts/"+id+"/resolve", b.operator, map[string]any{"resolution_notes": "freed 200 GB"})
	wantCounts(t, b, 2, 2, 2)
	for _, topic := range []string{emailTopic, smsTopic, webhookTopic} {
		if ev := b.received(topic)[1].Attrs()["event"]; ev != "resolved" {
			t.Errorf("%s: second message's event %q, want resolved", topic, ev)
		}
	}
	if s := b.received(emailTopic)[1].Subject; s != "[RESOLVED] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump" {
		t.Errorf("resolved subject %q", s)
	}
	if s := b.received(smsTopic)[1].Message; !strings.HasPrefix(s, "backupwatch [RESOLVED] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump: freed 200 GB") {
		t.Errorf("resolved SMS %q", s)
	}
	if err := json.Unmarshal([]byte(b.received(webhookTopic)[1].Message), &hook); err != nil || hook["event"] != "resolved" || hook["status"] != "RESOLVED" {
		t.Errorf("resolved webhook %v %v", hook, err)
	}
	if got := b.states(t, id); !maps.Equal(got, map[string]int{
		"email/opened/SENT": 1, "sms/opened/SENT": 1, "webhook/opened/SENT": 1,
		"email/resolved/SENT": 1, "sms/resolved/SENT": 1, "webhook/resolved/SENT": 1,
	}) {
		t.Errorf("outbox %v", got)
	}
}

// TestSNSOutage: with goaws down, an alert raised over HTTP still answers
// 201 and the outbox keeps its rows with the attempt and the error; the
// resolution made during the outage waits behind them. Once goaws is back
// (restarted on the same port: same topic ARNs, new subscriptions), nothing
// is retried before its backoff, and then the next run delivers each row
// exactly once, in order, losing none.
func TestSNSOutage(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b := newBench(t, g, snsRelay(t, g, notify.Config{}))
	ctx := context.Background()

	g.Stop(t)
	id := b.failFull(t, "full-2026-11-26.dump") // 201 although nothing could be sent
	t0 := b.Clock.Now()
	for _, n := range b.outbox(t, id) {
		if n.State != alert.DeliveryPending || n.Attempts != 1 || n.LastError == "" ||
			!n.NextAttemptAt.Equal(t0.Truncate(time.Microsecond).Add(time.Minute)) {
			t.Errorf("after a failed attempt: %+v", n)
		}
		if !strings.Contains(n.LastError, "connect") {
			t.Errorf("last_error %q does not say the connection failed", n.LastError)
		}
	}
	// Resolving during the outage queues "resolved" behind "opened".
	b.Call(t, 200, "POST", "/v1/alerts/"+id+"/resolve", b.operator, map[string]any{"resolution_notes": "disk freed"})
	if got := b.states(t, id); !maps.Equal(got, map[string]int{
		"email/opened/PENDING": 1, "sms/opened/PENDING": 1, "webhook/opened/PENDING": 1,
		"email/resolved/PENDING": 1, "sms/resolved/PENDING": 1, "webhook/resolved/PENDING": 1,
	}) {
		t.Fatalf("outbox during the outage: %v", got)
	}
	wantCounts(t, b, 0, 0, 0)

	g.Restart(t)
	// The opened rows wait for their backoff, and the resolved ones wait
	// behind them, so the channel hears "opened" first.
	if res, err := b.relay.Drain(ctx); err != nil || res != (notify.Result{}) {
		t.Fatalf("before the backoff: %+v %v", res, err)
	}
	wantCounts(t, b, 0, 0, 0)

	b.Clock.Advance(time.Minute)
	res, err := b.relay.Drain(ctx)
	if err != nil || res.Sent != 6 || res.Retrying != 0 {
		t.Fatalf("after the backoff: %+v %v", res, err)
	}
	wantCounts(t, b, 2, 2, 2)
	for _, topic := range []string{emailTopic, smsTopic, webhookTopic} {
		got := b.received(topic)
		if got[0].Attrs()["event"] != "opened" || got[1].Attrs()["event"] != "resolved" {
			t.Errorf("%s heard %s then %s", topic, got[0].Attrs()["event"], got[1].Attrs()["event"])
		}
	}
	for _, n := range b.outbox(t, id) {
		want := 1 // resolved: sent at its first attempt
		if n.Event == alert.Opened {
			want = 2
		}
		if n.State != alert.DeliverySent || n.Attempts != want || n.MessageID == "" {
			t.Errorf("after recovery: %+v", n)
		}
	}
	// Nothing more to send, however late.
	b.Clock.Advance(24 * time.Hour)
	if sent, err := b.relay.Run(ctx); err != nil || sent != 0 {
		t.Fatalf("a later run sent %d: %v", sent, err)
	}
	wantCounts(t, b, 2, 2, 2)
}

// recording wraps the real SNS publisher to record which relay published
// what, and holds each relay's first publish until the other relay has
// claimed its own batch, so that the two surely run at the same time.
type recording struct {
	notify.Publisher
	name    string
	mu      *sync.Mutex
	log     map[string][]string // relay → "topic alert event"
	started chan struct{}
	other   chan struct{}
	once    sync.Once
	alone   bool // the other relay never started publishing
}

func (r *recording) Publish(ctx context.Context, topic string, m notify.Message) (string, error) {
	r.once.Do(func() {
		close(r.started)
		select {
		case <-r.other:
		case <-time.After(30 * time.Second): // not a time limit: a deadlock guard, reported as a failure
			r.alone = true
		}
	})
	id, err := r.Publisher.Publish(ctx, topic, m)
	if err == nil {
		r.mu.Lock()
		r.log[r.name] = append(r.log[r.name], topic+" "+m.Attributes["alert_type"]+" "+m.Body[:min(len(m.Body), 60)])
		r.mu.Unlock()
	}
	return id, err
}

// TestConcurrentRelaysSendOnce: two relays draining the same outbox at the
// same time (each holding a claimed batch while the other claims) never
// send a row twice, and together send every row.
func TestConcurrentRelaysSendOnce(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b := newBench(t, g, func(api *testenv.API) *notify.Relay {
		return notify.NewRelay(notify.Config{Pool: api.Pool, Now: api.Clock.Now})
	})
	// The alerts are raised through the engine, as a check run does, so
	// that no request's relay runs: the rows pile up for the two below.
	const alerts = 40
	ctx := context.Background()
	err := store.InScope(ctx, b.Pool, store.AllTenants, func(tx pgx.Tx) error {
		for i := range alerts {
			_, err := raise(ctx, tx, b, fmt.Sprintf("full-%03d.dump", i))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	pub, err := notify.NewSNS(ctx, g.SNSOptions)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	log := map[string][]string{}
	a, c := make(chan struct{}), make(chan struct{})
	relays := []*notify.Relay{}
	recs := []*recording{
		{Publisher: pub, name: "A", mu: &mu, log: log, started: a, other: c},
		{Publisher: pub, name: "B", mu: &mu, log: log, started: c, other: a},
	}
	for _, p := range recs {
		// 40 CRITICAL alerts: above the default hourly SMS cap.
		relays = append(relays, notify.NewRelay(notify.Config{Pool: b.Pool, Publisher: p, Topics: b.topics(), Now: b.Clock.Now, Batch: 10, SMSMaxPerHour: alerts}))
	}
	var wg sync.WaitGroup
	results := make([]notify.Result, 2)
	errs := make([]error, 2)
	for i, r := range relays {
		wg.Go(func() { results[i], errs[i] = r.Drain(ctx) })
	}
	wg.Wait()
	for i := range relays {
		if errs[i] != nil {
			t.Fatalf("relay %d: %v", i, errs[i])
		}
	}
	if recs[0].alone || recs[1].alone || len(log["A"]) == 0 || len(log["B"]) == 0 {
		t.Fatalf("the relays did not both send: A %d, B %d", len(log["A"]), len(log["B"]))
	}
	if results[0].Sent+results[1].Sent != alerts*3 {
		t.Errorf("sent %d + %d, want %d", results[0].Sent, results[1].Sent, alerts*3)
	}
	wantCounts(t, b, alerts, alerts, alerts)
	// Every (topic, alert) arrived once.
	seen := map[string]int{}
	for _, topic := range []string{emailTopic, smsTopic, webhookTopic} {
		for _, n := range b.received(topic) {
			seen[topic+" "+n.Message]++
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("received %d times: %s", n, k)
		}
	}
	var sent, attempts int
	if err := b.Owner.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'SENT'), coalesce(max(attempts), 0) FROM alert_notifications`).Scan(&sent, &attempts); err != nil {
		t.Fatal(err)
	}
	if sent != alerts*3 || attempts != 1 {
		t.Errorf("outbox: %d SENT, max attempts %d", sent, attempts)
	}
	t.Logf("relay A sent %d, relay B sent %d", results[0].Sent, results[1].Sent)
}

// raise opens a CRITICAL BACKUP_FAILURE alert for a backup named file
// directly through the engine, as a check would, in tx.
func raise(ctx context.Context, tx pgx.Tx, b *bench, file string) (alert.Alert, error) {
	a, _, err := alertingEngine.Raise(ctx, tx, alert.Condition{
		Fingerprint: alert.Fingerprint(alert.BackupFailure, file), Type: alert.BackupFailure, Severity: alert.Critical,
		Message: "FULL_DATABASE backup " + file + " failed", Details: map[string]any{"backup_type": "FULL_DATABASE", "filename": file},
	}, b.Clock.Now())
	return a, err
}

// TestGiveUpRaisesNotificationFailure: a channel whose topic SNS refuses
// (here: an email topic goaws does not have) is retried with a doubling
// backoff, then given up after the configured attempts: its row FAILED, and
// a NOTIFICATION_FAILURE alert (ERROR) that reaches people on the channels
// that work and is not sent on the failing one. When the channel delivers
// again, that alert resolves itself, and the resolution is notified.
func TestGiveUpRaisesNotificationFailure(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	broken := notify.Topics{Email: g.ARN("no-such-topic"), SMS: g.ARN(smsTopic), Webhook: g.ARN(webhookTopic)}
	b := newBench(t, g, snsRelay(t, g, notify.Config{Topics: broken, Retry: alert.RetryPolicy{MaxAttempts: 3}}))
	ctx := context.Background()

	id := b.failFull(t, "full-2026-11-26.dump")
	wantCounts(t, b, 0, 1, 1)
	email := func() alert.Notification {
		for _, n := range b.outbox(t, id) {
			if n.Channel == alert.Email {
				return n
			}
		}
		t.Fatal("no email row")
		return alert.Notification{}
	}
	if n := email(); n.Attempts != 1 || n.State != alert.DeliveryPending || !strings.Contains(n.LastError, "NonExistentTopic") {
		t.Fatalf("first attempt: %+v", n)
	}
	// Attempt 2 after 1 min; attempt 3 (the last) 2 min after that.
	b.Clock.Advance(time.Minute)
	if res, err := b.relay.Drain(ctx); err != nil || res != (notify.Result{Retrying: 1}) {
		t.Fatalf("second attempt: %+v %v", res, err)
	}
	if n := email(); n.Attempts != 2 || !n.NextAttemptAt.Equal(b.Clock.Now().Truncate(time.Microsecond).Add(2*time.Minute)) {
		t.Fatalf("after the second attempt: %+v", n)
	}
	b.Clock.Advance(time.Minute)
	if res, err := b.relay.Drain(ctx); err != nil || res != (notify.Result{}) {
		t.Fatalf("before its backoff: %+v %v", res, err)
	}
	b.Clock.Advance(time.Minute)
	// The email row gives up; the NOTIFICATION_FAILURE alert it raises goes
	// out on the webhook in the same run, and not on email.
	if res, err := b.relay.Drain(ctx); err != nil || res != (notify.Result{Failed: 1, Sent: 1}) {
		t.Fatalf("last attempt: %+v %v", res, err)
	}
	if n := email(); n.State != alert.DeliveryFailed || n.Attempts != 3 {
		t.Fatalf("given up: %+v", n)
	}
	nf := b.openAlert(t, "NOTIFICATION_FAILURE")
	got := b.Call(t, 200, "GET", "/v1/alerts/"+nf, b.operator, nil)
	if got["severity"] != "ERROR" || got["tenant_id"] != nil || !strings.Contains(got["message"].(string), "email notifications are not being delivered") {
		t.Errorf("NOTIFICATION_FAILURE alert: %v", got)
	}
	if d := got["details"].(map[string]any); d["channel"] != "email" || d["notifications_given_up"] != float64(1) || !slices.Contains(d["alert_ids"].([]any), any(id)) {
		t.Errorf("details %v", d)
	}
	if s := b.states(t, nf); !maps.Equal(s, map[string]int{"email/opened/SKIPPED": 1, "webhook/opened/SENT": 1}) {
		t.Errorf("NOTIFICATION_FAILURE outbox %v (ERROR: email, skipped as failing, and webhook)", s)
	}
	wantCounts(t, b, 0, 1, 2)
	var hook map[string]any
	if err := json.Unmarshal([]byte(b.received(webhookTopic)[1].Message), &hook); err != nil || hook["alert_type"] != "NOTIFICATION_FAILURE" || hook["event"] != "opened" {
		t.Errorf("webhook: %v %v", hook, err)
	}
	if l := b.Call(t, 200, "GET", "/v1/alerts?alert_type=NOTIFICATION_FAILURE", b.operator, nil); len(l["items"].([]any)) != 1 {
		t.Errorf("listing by the new type: %v", l)
	}

	// Email works again: the next email delivered (the first alert's
	// resolution) resolves NOTIFICATION_FAILURE, which is notified too.
	b.relay = notify.NewRelay(notify.Config{Pool: b.Pool, Publisher: mustSNS(t, g), Topics: b.topics(), Now: b.Clock.Now, Retry: alert.RetryPolicy{MaxAttempts: 3}})
	b.Call(t, 200, "POST", "/v1/alerts/"+id+"/resolve", b.operator, map[string]any{"resolution_notes": "disk freed"})
	got = b.Call(t, 200, "GET", "/v1/alerts/"+nf, b.operator, nil)
	if got["status"] != "RESOLVED" || got["resolved_by"] != nil || !strings.Contains(got["resolution_notes"].(string), "email notification was delivered") {
		t.Errorf("after email recovered: %v", got)
	}
	if s := b.states(t, nf); !maps.Equal(s, map[string]int{"email/opened/SKIPPED": 1, "webhook/opened/SENT": 1, "email/resolved/SENT": 1, "webhook/resolved/SENT": 1}) {
		t.Errorf("resolution not notified: %v", s)
	}
	wantCounts(t, b, 2, 2, 4)
	if s := b.received(emailTopic)[1].Subject; s != "[RESOLVED] NOTIFICATION_FAILURE: email notifications" {
		t.Errorf("subject %q", s)
	}
}

var alertingEngine = alerting.New(nil)

func mustSNS(t *testing.T, g *testenv.Goaws) notify.Publisher {
	t.Helper()
	p, err := notify.NewSNS(context.Background(), g.SNSOptions)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestChannelWithoutTopicIsSkipped: with no SMS topic configured, the SMS
// rows of a CRITICAL alert are SKIPPED at once with the reason, never
// retried, and the other channels are delivered (here by the log sink,
// which prints one JSON line per notification).
func TestChannelWithoutTopicIsSkipped(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	b := newBench(t, nil, func(api *testenv.API) *notify.Relay {
		return notify.NewRelay(notify.Config{Pool: api.Pool, Now: api.Clock.Now, Publisher: notify.NewLogSink(&lockedWriter{w: &out, mu: &mu}),
			Topics: notify.Topics{Email: "log:email", Webhook: "log:webhook"}})
	})
	id := b.failFull(t, "full-2026-11-26.dump")
	var smsRow alert.Notification
	for _, n := range b.outbox(t, id) {
		switch n.Channel {
		case alert.SMS:
			smsRow = n
			if n.State != alert.DeliverySkipped || n.Attempts != 0 || !strings.Contains(n.LastError, "ALERT_TOPIC_SMS_ARN is not set") {
				t.Errorf("sms row %+v", n)
			}
		default:
			if n.State != alert.DeliverySent || !strings.HasPrefix(n.MessageID, "log-") {
				t.Errorf("%s row %+v", n.Channel, n)
			}
		}
	}
	b.Clock.Advance(48 * time.Hour)
	if res, err := b.relay.Drain(context.Background()); err != nil || res != (notify.Result{}) {
		t.Fatalf("a later run: %+v %v", res, err)
	}
	for _, n := range b.outbox(t, id) {
		if n.ID == smsRow.ID && (n.State != alert.DeliverySkipped || n.Attempts != 0) {
			t.Errorf("sms row changed: %+v", n)
		}
	}
	mu.Lock()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	mu.Unlock()
	if len(lines) != 2 {
		t.Fatalf("log sink printed %d lines, want 2:\n%s", len(lines), out.String())
	}
	var line struct {
		Msg, Topic, Subject, Body string
		Attributes                map[string]string
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("not a JSON line: %v: %s", err, lines[0])
	}
	if line.Msg != "notification" || line.Topic != "log:email" || line.Subject != "[CRITICAL] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump" ||
		line.Attributes["event"] != "opened" || !strings.Contains(line.Body, id) {
		t.Errorf("log line %+v", line)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestFromConfigWithoutTopics: without any topic ARN, serve (which hands a
// sink) prints every notification as a JSON line, one per channel; a
// function (no sink) has nowhere to send and marks them SKIPPED.
func TestFromConfigWithoutTopics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sink  bool
		state alert.DeliveryState
	}{
		{"serve: log sink", true, alert.DeliverySent},
		{"function: nothing to send to", false, alert.DeliverySkipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			var mu sync.Mutex
			b := newBench(t, nil, func(api *testenv.API) *notify.Relay {
				var sink io.Writer // a nil *lockedWriter would not be a nil io.Writer
				if tc.sink {
					sink = &lockedWriter{w: &out, mu: &mu}
				}
				r, err := notify.FromConfig(context.Background(), config.Config{NotifyMaxAttempts: 10}, api.Pool, testenv.Quiet(), sink)
				if err != nil {
					t.Fatal(err)
				}
				return r
			})
			id := b.failFull(t, "full-2026-11-26.dump")
			for _, n := range b.outbox(t, id) {
				if n.State != tc.state {
					t.Errorf("%s row %+v, want %s", n.Channel, n, tc.state)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lines := 0
			for l := range strings.Lines(out.String()) {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil || m["msg"] != "notification" {
					t.Errorf("not a notification JSON line: %q", l)
				}
				lines++
			}
			if want := map[bool]int{true: 3, false: 0}[tc.sink]; lines != want {
				t.Errorf("%d lines printed, want %d", lines, want)
			}
		})
	}
}
