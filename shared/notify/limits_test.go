package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/notify"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// snsFront puts SNS's own checks of a Publish in front of goaws, which
// makes none (goaws v0.4.5's Publish refuses only a topic it does not
// have: app/gosns/gosns.go). It answers as SNS does, with the Query
// protocol's XML error, so the SDK returns its real error types:
//   - a message over 256 KiB: InvalidParameter "Message too long";
//   - a subject of 100 characters or more, or with a line break or control
//     character: InvalidParameter "Subject";
//   - an email (a message with a subject) containing throttleMark:
//     Throttling (SNS's "Rate exceeded").
//
// Everything else goes on to goaws.
type snsFront struct {
	URL string
}

const throttleMark = "THROTTLE-THIS-ONE"

func newSNSFront(t *testing.T, g *testenv.Goaws) *snsFront {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form, _ := url.ParseQuery(string(body))
		if form.Get("Action") == "Publish" {
			msg, subject := form.Get("Message"), form.Get("Subject")
			switch {
			case len(msg) > 256<<10:
				snsError(w, 400, "Sender", "InvalidParameter", "Invalid parameter: Message too long")
				return
			case utf8.RuneCountInString(subject) >= 100 || strings.ContainsFunc(subject, unicode.IsControl):
				snsError(w, 400, "Sender", "InvalidParameter", "Invalid parameter: Subject")
				return
			case subject != "" && strings.Contains(msg, throttleMark):
				snsError(w, 400, "Sender", "Throttling", "Rate exceeded")
				return
			}
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, g.URL+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return &snsFront{URL: srv.URL}
}

func snsError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>
  <RequestId>6a1f2b3c-0000-4000-8000-000000000000</RequestId>
</ErrorResponse>`, typ, code, msg)
}

// publisher is the SDK's SNS publisher, sending to the front.
func (f *snsFront) publisher(t *testing.T, g *testenv.Goaws) notify.Publisher {
	t.Helper()
	p, err := notify.NewSNS(context.Background(), g.SNSOptions, func(o *sns.Options) { o.BaseEndpoint = aws.String(f.URL) })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// raiseHuge opens a CRITICAL BACKUP_FAILURE alert whose message and notes
// are a failure's 600 KB notes, as alerts raised before issue 12 may be.
func raiseHuge(ctx context.Context, tx pgx.Tx, b *bench, file string) (alert.Alert, error) {
	notes := strings.Repeat("pg_dump: error: query failed: é🦄 ", 600<<10/40)
	a, _, err := alertingEngine.Raise(ctx, tx, alert.Condition{
		Fingerprint: alert.Fingerprint(alert.BackupFailure, file), Type: alert.BackupFailure, Severity: alert.Critical,
		Message: "FULL_DATABASE backup " + file + " failed: " + notes,
		Details: map[string]any{"backup_type": "FULL_DATABASE", "filename": file, "notes": notes},
	}, b.Clock.Now())
	return a, err
}

// inTx runs fn in one transaction across all tenants, as a check run does
// (so no request's relay runs before the test's own).
func inTx(t *testing.T, b *bench, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := store.InScope(ctx, b.Pool, store.AllTenants, func(tx pgx.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// TestHugeAlertDeliveredWithinSNSLimits: an alert carrying a failure's
// 600 KB notes reaches every channel through SNS's limits (the front
// above): an email and a webhook message of at most 200 KiB that say they
// were cut and where the whole alert is, valid JSON and UTF-8, and an SMS
// of at most 140 characters. Before issue 12 SNS refused the 1.2 MB email
// and webhook message.
func TestHugeAlertDeliveredWithinSNSLimits(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	front := newSNSFront(t, g)
	b := newBench(t, g, func(api *testenv.API) *notify.Relay {
		return notify.NewRelay(notify.Config{Pool: api.Pool, Publisher: front.publisher(t, g), Topics: notify.Topics{
			Email: g.ARN(emailTopic), SMS: g.ARN(smsTopic), Webhook: g.ARN(webhookTopic)}, Now: api.Clock.Now,
			APIURL: "https://backupwatch.example.com"})
	})
	var a alert.Alert
	inTx(t, b, func(ctx context.Context, tx pgx.Tx) (err error) {
		a, err = raiseHuge(ctx, tx, b, "full-2026-11-26.dump")
		return err
	})
	res, err := b.relay.Drain(context.Background())
	if err != nil || res != (notify.Result{Sent: 3}) {
		t.Fatalf("drain: %+v %v (rows: %v)", res, err, b.outbox(t, a.ID.String()))
	}
	wantCounts(t, b, 1, 1, 1)
	link := "https://backupwatch.example.com/v1/alerts/" + a.ID.String()

	email := b.received(emailTopic)[0]
	if n := len(email.Message); n > notify.MaxBody || n < 16<<10 {
		t.Errorf("email body of %d bytes", n)
	}
	for _, want := range []string{"This email is shortened to fit: the whole alert is at GET " + link, "  Alert        " + a.ID.String(),
		"pg_dump: error: query failed: é🦄", "Details\n", "  notes        pg_dump", "curl -X POST " + link + "/acknowledge"} {
		if !strings.Contains(email.Message, want) {
			t.Errorf("email lacks %q", want)
		}
	}
	hook := b.received(webhookTopic)[0].Message
	var got map[string]any
	if err := json.Unmarshal([]byte(hook), &got); err != nil || len(hook) > notify.MaxBody || !utf8.ValidString(hook) {
		t.Fatalf("webhook of %d bytes: %v", len(hook), err)
	}
	if got["truncated"] != true || got["alert_url"] != link || got["id"] != a.ID.String() || got["event"] != "opened" ||
		!strings.HasPrefix(got["message"].(string), "FULL_DATABASE backup full-2026-11-26.dump failed: pg_dump") {
		t.Errorf("webhook: truncated %v alert_url %v id %v", got["truncated"], got["alert_url"], got["id"])
	}
	if d := got["details"].(map[string]any); d["filename"] != "full-2026-11-26.dump" || !strings.HasSuffix(d["notes"].(string), "…") {
		t.Errorf("webhook details %v", d)
	}
	if sms := b.received(smsTopic)[0].Message; utf8.RuneCountInString(sms) > notify.MaxSMS {
		t.Errorf("SMS of %d characters", utf8.RuneCountInString(sms))
	}
	show(t, "huge-failure-email.txt", "Subject: "+email.Subject+"\n\n"+email.Message)
	show(t, "huge-failure-webhook.json", hook)
}

// show writes a message where a person can read it (under /tmp) and says
// where; it is for looking at, not a golden file.
func show(t *testing.T, name, s string) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "backupwatch-notify-"+name)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes in %s", name, len(s), path)
}

// inflated stands for a renderer without bounds (as before issue 12): it
// sends the email of one alert with 300 KiB more body, which SNS refuses.
type inflated struct {
	notify.Publisher
	alertID, topic string
}

func (p inflated) Publish(ctx context.Context, topic string, m notify.Message) (string, error) {
	if topic == p.topic && strings.Contains(m.Body, p.alertID) {
		m.Body += strings.Repeat("x", 300<<10)
	}
	return p.Publisher.Publish(ctx, topic, m)
}

// TestRefusedMessageFailsAlone: in one batch, an email SNS refuses for
// itself (InvalidParameter: message too long) counts against its own
// attempts, and the alerts' other emails, after it in the same pass, are
// delivered. Throttling still backs the topic off: after a throttled email
// the pass does not call the email topic again. Before issue 12 the refused
// email marked the topic broken, and the three good emails waited a minute.
func TestRefusedMessageFailsAlone(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	front := newSNSFront(t, g)
	var first alert.Alert
	b := newBench(t, g, func(api *testenv.API) *notify.Relay { return nil })
	inTx(t, b, func(ctx context.Context, tx pgx.Tx) (err error) {
		if first, err = raise(ctx, tx, b, "refused.dump"); err != nil {
			return err
		}
		for i := range 3 {
			if _, err := raise(ctx, tx, b, fmt.Sprintf("good-%d.dump", i)); err != nil {
				return err
			}
		}
		return nil
	})
	b.relay = notify.NewRelay(notify.Config{Pool: b.Pool, Topics: b.topics(), Now: b.Clock.Now,
		Publisher: inflated{Publisher: front.publisher(t, g), alertID: first.ID.String(), topic: g.ARN(emailTopic)}})
	res, err := b.relay.Drain(context.Background())
	if err != nil || res != (notify.Result{Sent: 11, Retrying: 1}) {
		t.Fatalf("drain: %+v %v", res, err)
	}
	wantCounts(t, b, 3, 4, 4)
	for _, n := range b.outbox(t, first.ID.String()) {
		if n.Channel == alert.Email && (n.State != alert.DeliveryPending || n.Attempts != 1 ||
			!strings.Contains(n.LastError, "InvalidParameter") || !strings.Contains(n.LastError, "Message too long")) {
			t.Errorf("refused email row %+v", n)
		}
	}

	// Throttling is the topic's: the emails after the throttled one in the
	// pass are not tried, and wait for their backoff.
	inTx(t, b, func(ctx context.Context, tx pgx.Tx) error {
		if _, _, err := alertingEngine.Raise(ctx, tx, alert.Condition{
			Fingerprint: "BACKUP_FAILURE:throttled", Type: alert.BackupFailure, Severity: alert.Critical,
			Message: "backup failed: " + throttleMark,
		}, b.Clock.Now()); err != nil {
			return err
		}
		for i := range 2 {
			if _, err := raise(ctx, tx, b, fmt.Sprintf("late-%d.dump", i)); err != nil {
				return err
			}
		}
		return nil
	})
	res, err = b.relay.Drain(context.Background())
	if err != nil || res != (notify.Result{Sent: 6, Retrying: 3}) {
		t.Fatalf("drain with throttling: %+v %v", res, err)
	}
	wantCounts(t, b, 3, 7, 7)
	var throttled, notTried int
	if err := b.Owner.QueryRow(context.Background(), `SELECT
			count(*) FILTER (WHERE last_error LIKE '%Rate exceeded%' AND last_error NOT LIKE 'not tried%'),
			count(*) FILTER (WHERE last_error LIKE 'not tried, the topic failed just before%Rate exceeded%')
		FROM alert_notifications WHERE channel = 'email' AND state = 'PENDING' AND attempts = 1`).Scan(&throttled, &notTried); err != nil {
		t.Fatal(err)
	}
	if throttled != 1 || notTried != 2 {
		t.Errorf("email rows: %d throttled, %d not tried; want 1 and 2", throttled, notTried)
	}
}

// TestRefusedMessageClassification: the SDK's real error values, as
// RefusedMessage sees them wrapped by Publish.
func TestRefusedMessageClassification(t *testing.T) {
	// The SDK's own validation: a Publish without a message is refused
	// before it is sent.
	client := sns.New(sns.Options{Region: "us-east-1"})
	_, invalid := client.Publish(context.Background(), &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:1:t")})
	var params smithy.InvalidParamsError
	if !errors.As(invalid, &params) {
		t.Fatalf("not an InvalidParamsError: %v", invalid)
	}
	wrap := func(err error) error {
		return fmt.Errorf("publishing to t: %w", &smithy.OperationError{ServiceID: "SNS", OperationName: "Publish", Err: err})
	}
	for _, tc := range []struct {
		err     error
		refused bool
	}{
		{invalid, true},
		{wrap(&types.InvalidParameterException{Message: aws.String("Invalid parameter: Message too long")}), true},
		{wrap(&types.InvalidParameterException{Message: aws.String("Invalid parameter: Subject")}), true},
		{wrap(&types.InvalidParameterValueException{Message: aws.String("Invalid parameter: Message Attributes")}), true},
		{wrap(&types.ValidationException{Message: aws.String("bad")}), true},
		{wrap(&types.InvalidParameterException{Message: aws.String("Invalid parameter: TopicArn")}), false},
		{wrap(&types.ThrottledException{Message: aws.String("Rate exceeded")}), false},
		{wrap(&smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded", Fault: smithy.FaultClient}), false},
		{wrap(&types.InternalErrorException{Message: aws.String("internal")}), false},
		{wrap(&smithy.GenericAPIError{Code: "InvalidParameter", Fault: smithy.FaultServer}), false},
		{wrap(&types.NotFoundException{Message: aws.String("Topic does not exist")}), false},
		{wrap(&types.AuthorizationErrorException{Message: aws.String("denied")}), false},
		{wrap(&types.KMSThrottlingException{}), false},
		{wrap(context.DeadlineExceeded), false},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
	} {
		if got := notify.RefusedMessage(tc.err); got != tc.refused {
			t.Errorf("RefusedMessage(%v) = %v, want %v", tc.err, got, tc.refused)
		}
	}
}

// TestSMSCappedPerHour: 25 CRITICAL alerts in one check run send 25 emails
// and webhook messages but 20 SMS and one digest SMS that says 5 were held
// and where to look. The held rows are HELD (final: not retried, no
// NOTIFICATION_FAILURE) with the reason. The cap is counted in the outbox:
// a new relay (another process) an hour later than nothing still holds,
// without a second digest, and once the hour has passed SMS go out again.
func TestSMSCappedPerHour(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	newRelay := func(api *testenv.API) *notify.Relay {
		return notify.NewRelay(notify.Config{Pool: api.Pool, Publisher: mustSNS(t, g), Now: api.Clock.Now, Topics: notify.Topics{
			Email: g.ARN(emailTopic), SMS: g.ARN(smsTopic), Webhook: g.ARN(webhookTopic)}, APIURL: "https://backupwatch.example.com"})
	}
	b := newBench(t, g, newRelay)
	ctx := context.Background()
	inTx(t, b, func(ctx context.Context, tx pgx.Tx) error {
		for i := range 25 {
			if _, err := raise(ctx, tx, b, fmt.Sprintf("full-%03d.dump", i)); err != nil {
				return err
			}
		}
		return nil
	})
	res, err := b.relay.Drain(ctx)
	if err != nil || res != (notify.Result{Sent: 70, Held: 5, Digests: 1}) {
		t.Fatalf("drain: %+v %v", res, err)
	}
	wantCounts(t, b, 25, 21, 25)
	sms := b.received(smsTopic)
	digest := sms[len(sms)-1]
	wantDigest := "backupwatch: 5 alerts not sent by SMS (limit 20/h), more may follow: https://backupwatch.example.com/v1/alerts"
	if digest.Message != wantDigest ||
		utf8.RuneCountInString(digest.Message) > notify.MaxSMS || digest.Attrs()["alert_type"] != notify.DigestType || digest.Attrs()["severity"] != "CRITICAL" {
		t.Errorf("digest SMS %q %v", digest.Message, digest.Attrs())
	}
	show(t, "digest-sms.txt", digest.Message+"\n")
	states := func() map[alert.DeliveryState]int {
		out := map[alert.DeliveryState]int{}
		rows, err := b.Owner.Query(ctx, `SELECT state, count(*) FROM alert_notifications WHERE channel = 'sms' GROUP BY state`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s alert.DeliveryState
			var n int
			if err := rows.Scan(&s, &n); err != nil {
				t.Fatal(err)
			}
			out[s] = n
		}
		return out
	}
	if got := states(); !maps.Equal(got, map[alert.DeliveryState]int{alert.DeliverySent: 20, alert.DeliveryHeld: 5}) {
		t.Fatalf("sms rows %v", got)
	}
	var held alert.Notification
	err = store.InScope(ctx, b.Owner, store.AllTenants, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT alert_id FROM alert_notifications WHERE state = 'HELD' LIMIT 1`).Scan(&held.AlertID)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range b.outbox(t, held.AlertID.String()) {
		if n.Channel == alert.SMS && (n.State != alert.DeliveryHeld || n.HeldAt == nil || n.DigestMessageID == "" || n.Attempts != 0 ||
			!strings.Contains(n.LastError, "SMS_MAX_PER_HOUR")) {
			t.Errorf("held row %+v", n)
		}
		if n.Channel != alert.SMS && n.State != alert.DeliverySent {
			t.Errorf("%s row of a held alert: %+v", n.Channel, n)
		}
	}

	// 59 minutes later, another process: still 20 in the hour; held, and
	// no second digest. Nothing is retried, however late.
	b.Clock.Advance(59 * time.Minute)
	b.relay = newRelay(b.API)
	inTx(t, b, func(ctx context.Context, tx pgx.Tx) error { _, err := raise(ctx, tx, b, "later.dump"); return err })
	if res, err := b.relay.Drain(ctx); err != nil || res != (notify.Result{Sent: 2, Held: 1}) {
		t.Fatalf("a later run: %+v %v", res, err)
	}
	wantCounts(t, b, 26, 21, 26)
	if l := b.Call(t, 200, "GET", "/v1/alerts?alert_type=NOTIFICATION_FAILURE", b.operator, nil); len(l["items"].([]any)) != 0 {
		t.Errorf("held SMS raised NOTIFICATION_FAILURE: %v", l)
	}

	// Past the hour, SMS go out again, and a digest tells of the one held
	// after the hour's first digest (told of by no SMS until then).
	b.Clock.Advance(2 * time.Minute)
	inTx(t, b, func(ctx context.Context, tx pgx.Tx) error { _, err := raise(ctx, tx, b, "next-hour.dump"); return err })
	if res, err := b.relay.Drain(ctx); err != nil || res != (notify.Result{Sent: 3, Digests: 1}) {
		t.Fatalf("the next hour: %+v %v", res, err)
	}
	wantCounts(t, b, 27, 23, 27)
	told := 0
	for _, m := range b.received(smsTopic) {
		if strings.HasPrefix(m.Message, "backupwatch: 1 alert not sent by SMS") {
			told++
		}
	}
	if told != 1 {
		t.Errorf("%d digests told of the one SMS held after the first digest, want 1", told)
	}
	if got := states(); !maps.Equal(got, map[alert.DeliveryState]int{alert.DeliverySent: 21, alert.DeliveryHeld: 6}) {
		t.Fatalf("sms rows %v", got)
	}
}
