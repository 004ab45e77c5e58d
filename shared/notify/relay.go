package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/logging"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Relay publishes the notification outbox. Several relays may run at once
// (an API request's and a check run's, in many Lambda containers): each
// claims its rows with FOR UPDATE SKIP LOCKED and holds them until it has
// recorded what became of them, so no row is sent twice by two relays.
// A row whose outcome could not be recorded (the process died after
// publishing) is sent again later: delivery is at least once.
type Relay struct {
	pool        store.Beginner
	pub         Publisher
	topics      Topics
	engine      *alerting.Engine
	retry       alert.RetryPolicy
	batch       int
	log         *slog.Logger
	now         func() time.Time
	apiURL      string
	hookTimeout time.Duration
	smsPerHour  int
	metrics     *logging.Metrics
}

// Config is what a Relay needs; zero fields take the defaults.
type Config struct {
	Pool store.Beginner
	// Publisher sends the messages. Nil: nothing can be sent, so every
	// channel counts as having no topic and its rows are SKIPPED.
	Publisher Publisher
	Topics    Topics
	// Routing is the severity → channels table, when none is stored, for the NOTIFICATION_FAILURE
	// alerts the relay raises (nil: DESIGN.md's table).
	Routing alert.Routing
	// Retry says how often a failing notification is retried (zero fields:
	// alert.DefaultRetry's).
	Retry alert.RetryPolicy
	// Batch is how many rows one pass claims (default 25): it bounds the
	// time a pass holds its row locks and its transaction.
	Batch  int
	Logger *slog.Logger
	// Now is the clock (nil: time.Now); tests move it to make retries due.
	Now func() time.Time
	// APIURL is the API's base URL, for the links in emails.
	APIURL string
	// HookTimeout bounds AfterAlert (default 5 s).
	HookTimeout time.Duration
	// SMSMaxPerHour caps the SMS sent in any hour (default 20), counted in
	// the outbox so that it holds across runs and processes. Past it, SMS
	// notifications are HELD and one digest SMS says how many.
	SMSMaxPerHour int
	// Metrics receives, after each Run, the backlog left and the age of its
	// oldest notification, and the NOTIFICATION_FAILURE alerts opened (nil:
	// none are written, and the backlog is not measured).
	Metrics *logging.Metrics
}

// Defaults of Config.
const (
	DefaultBatch       = 25
	DefaultHookTimeout = 5 * time.Second
	// maxPasses bounds one Drain: each pass claims a batch, and a pass can
	// add rows (a NOTIFICATION_FAILURE alert) that the next one sends.
	maxPasses = 20
	// settleGrace is how long a pass may still write what it did after its
	// context ended, so a publish is not left unrecorded.
	settleGrace = 3 * time.Second
	// maxErrorText bounds last_error.
	maxErrorText = 1000
	// DefaultSMSMaxPerHour is SMS_MAX_PER_HOUR's default.
	DefaultSMSMaxPerHour = 20
	// smsWindow is the span SMSMaxPerHour counts over.
	smsWindow = time.Hour
)

// NewRelay returns a relay.
func NewRelay(cfg Config) *Relay {
	r := &Relay{
		pool: cfg.Pool, pub: cfg.Publisher, topics: cfg.Topics, engine: alerting.New(cfg.Routing),
		retry: cfg.Retry.OrDefault(), batch: cfg.Batch, log: cfg.Logger, now: cfg.Now,
		apiURL: cfg.APIURL, hookTimeout: cfg.HookTimeout, smsPerHour: cfg.SMSMaxPerHour, metrics: cfg.Metrics,
	}
	if r.smsPerHour <= 0 {
		r.smsPerHour = DefaultSMSMaxPerHour
	}
	if r.pub == nil {
		r.topics = Topics{}
	}
	if r.batch <= 0 {
		r.batch = DefaultBatch
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.hookTimeout <= 0 {
		r.hookTimeout = DefaultHookTimeout
	}
	return r
}

// WithMetrics makes r write its metrics to m (see Config.Metrics) and
// returns it; call it before r is used.
func (r *Relay) WithMetrics(m *logging.Metrics) *Relay {
	r.metrics = m
	return r
}

// Result counts what a relay did to the rows it claimed.
type Result struct {
	Sent     int // published (state SENT)
	Retrying int // failed, to be tried again after a backoff
	Failed   int // failed for the last time (state FAILED)
	Skipped  int // their channel has no topic (state SKIPPED)
	Held     int // SMS past the hourly cap (state HELD)
	Digests  int // digest SMS sent for the held ones
	Silenced int // held by a silence (state SILENCED)
	// Released counts the alerts whose held notifications were released
	// because no silence matches them any more (ReleaseSilenced).
	Released int
}

func (r *Result) add(o Result) {
	r.Sent += o.Sent
	r.Retrying += o.Retrying
	r.Failed += o.Failed
	r.Skipped += o.Skipped
	r.Held += o.Held
	r.Digests += o.Digests
	r.Silenced += o.Silenced
	r.Released += o.Released
}

// Run sends every notification that is due and returns how many it sent.
// It is what a check run calls at its end; bound it with ctx.
func (r *Relay) Run(ctx context.Context) (sent int, err error) {
	res, err := r.Drain(ctx)
	r.measureBacklog(ctx)
	return res.Sent, err
}

// measureBacklog writes the backlog a Run left, and the age of its oldest
// notification, to the metrics (the alarm on a relay that falls behind);
// a Run is the scheduled relay, so the metric comes every check run.
func (r *Relay) measureBacklog(ctx context.Context) {
	if r.metrics == nil {
		return
	}
	var (
		n      int
		oldest time.Time
	)
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleGrace)
	defer cancel()
	err := store.InScope(mctx, r.pool, store.AllTenants, func(tx pgx.Tx) (err error) {
		n, oldest, err = store.PendingBacklog(mctx, tx)
		return err
	})
	if err != nil {
		r.log.WarnContext(ctx, "measuring the notification backlog", "error", err.Error())
		return
	}
	age := time.Duration(0)
	if n > 0 {
		age = max(r.now().Sub(oldest), 0)
	}
	r.metrics.RelayBacklogged(n, age)
}

// Drain is Run with the whole account: sent, retrying, failed, skipped. It
// claims batches until none is due, ctx ends or a bounded number of passes
// ran. An error leaves the rows of the failed pass as they were (due).
func (r *Relay) Drain(ctx context.Context) (Result, error) {
	var total Result
	released, err := r.release(ctx, r.now().UTC().Truncate(time.Microsecond))
	total.Released = released
	if err != nil {
		return total, err
	}
	for range maxPasses {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("relaying notifications: %w", err)
		}
		res, claimed, err := r.pass(ctx, r.now().UTC().Truncate(time.Microsecond))
		total.add(res)
		if err != nil {
			return total, err
		}
		if claimed == 0 {
			break
		}
	}
	return total, nil
}

// AfterAlert is httpapi's Hooks.AfterAlert: it drains the outbox right after
// a request that raised or resolved an alert committed, within the hook
// timeout, and never fails the request: what it could not send, a later run
// sends.
func (r *Relay) AfterAlert(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.hookTimeout)
	defer cancel()
	res, err := r.Drain(ctx)
	if err != nil {
		r.log.WarnContext(ctx, "notifications not all relayed after the request; a later run sends them",
			"error", err.Error(), "sent", res.Sent, "retrying", res.Retrying)
	}
}

// pass is one batch in one transaction: claim, publish each, record each
// outcome, then raise or resolve NOTIFICATION_FAILURE alerts.
func (r *Relay) pass(ctx context.Context, now time.Time) (Result, int, error) {
	dbctx, cancel := settleContext(ctx)
	defer cancel()
	var (
		p       *passState
		claimed int
	)
	err := store.InScope(dbctx, r.pool, store.AllTenants, func(tx pgx.Tx) error {
		p = newPassState()
		due, err := store.ClaimDueNotifications(dbctx, tx, now, r.batch)
		if err != nil {
			return err
		}
		claimed = len(due)
		if err := r.loadSilences(dbctx, tx, p, due, now); err != nil {
			return err
		}
		for _, n := range due {
			if ctx.Err() != nil {
				break // the rest stay PENDING and due, untouched
			}
			if err := r.deliver(ctx, dbctx, tx, p, n, now); err != nil {
				return err
			}
		}
		if err := r.digest(ctx, dbctx, tx, p, claimed > 0, now); err != nil {
			return err
		}
		return r.settle(dbctx, tx, p, now)
	})
	if err != nil {
		if p != nil && p.res.Sent > 0 {
			r.log.ErrorContext(ctx, "notifications were published but their outcome could not be recorded; they will be sent again",
				"published", p.res.Sent, "error", err.Error())
		}
		return Result{}, claimed, fmt.Errorf("relaying notifications: %w", err)
	}
	if p.engine != nil {
		for _, a := range p.engine.Opened() {
			r.metrics.AlertOpened(string(a.Type), string(a.Severity))
		}
	}
	return p.res, claimed, nil
}

// settleContext is the context of a pass's database work: it outlives ctx
// by settleGrace, so that what was published gets recorded.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	detached := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(detached, dl.Add(settleGrace))
	}
	return context.WithCancel(detached)
}

// passState is what one pass has learnt: its counts, the alerts, tenants
// and backups it loaded, and per channel whether anything got through and
// what was given up.
type passState struct {
	res       Result
	alerts    map[uuid.UUID]alert.Alert
	tenants   map[uuid.UUID]*store.Tenant
	backups   map[uuid.UUID]*backup.Backup
	delivered map[alert.Channel]bool
	gaveUp    map[alert.Channel][]failure
	// broken holds the error of each topic that failed in this pass: the
	// pass does not call it again (an outage would cost a timeout per row),
	// but counts the attempt for its other rows all the same. A message
	// SNS refuses for itself does not break its topic.
	broken map[string]error
	// notified are the alerts that got a notification out, to stamp.
	notified map[uuid.UUID]bool
	// engine is settle's, which knows the alerts it opened.
	engine *alerting.Engine
	// silences are those in force at the pass's time, and history what
	// each channel was told of the claimed rows' alerts (loaded when a
	// silence is in force or a resolution is to be sent: loadSilences).
	silences []alert.Silence
	history  map[uuid.UUID]map[alert.Channel]store.ChannelHistory
	// sms is the pass's account of the hourly SMS cap, once it took the
	// SMS lock (smsLocked): SMS sent in the hour, this pass's included,
	// and how many it held.
	smsLocked bool
	smsSent   int
	smsHeld   int
}

type failure struct {
	n   alert.Notification
	why string
}

func newPassState() *passState {
	return &passState{
		alerts: map[uuid.UUID]alert.Alert{}, tenants: map[uuid.UUID]*store.Tenant{},
		backups: map[uuid.UUID]*backup.Backup{}, delivered: map[alert.Channel]bool{},
		gaveUp: map[alert.Channel][]failure{}, broken: map[string]error{}, notified: map[uuid.UUID]bool{},
		history: map[uuid.UUID]map[alert.Channel]store.ChannelHistory{},
	}
}

// deliver publishes one claimed row and records the outcome. It returns an
// error only for database errors, which abort the pass (the transaction is
// no longer usable); a failed publish is an outcome.
func (r *Relay) deliver(ctx, dbctx context.Context, tx pgx.Tx, p *passState, n alert.Notification, now time.Time) error {
	topic := r.topics.For(n.Channel)
	if topic == "" {
		p.res.Skipped++
		r.log.InfoContext(ctx, "notification skipped: no topic", "channel", n.Channel, "alert_id", n.AlertID, "notification_id", n.ID)
		return store.MarkNotificationSkipped(dbctx, tx, n.ID,
			fmt.Sprintf("no topic for the %s channel: %s is not set", n.Channel, envName(n.Channel)))
	}
	notice, err := r.notice(dbctx, tx, p, n)
	if err == nil {
		if held, err := r.silence(ctx, dbctx, tx, p, n, notice.Alert, now); held || err != nil {
			return err
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		// Cannot be (the row's alert is a foreign key), but a row that
		// could never be written must not block every pass: it uses up
		// its attempts like any other failure.
		return r.attemptFailed(ctx, dbctx, tx, p, n, err, now)
	}
	if err != nil {
		return err
	}
	msg, err := Render(n.Channel, notice)
	if err != nil {
		return r.attemptFailed(ctx, dbctx, tx, p, n, err, now)
	}
	if err := p.broken[topic]; err != nil {
		return r.attemptFailed(ctx, dbctx, tx, p, n, fmt.Errorf("not tried, the topic failed just before: %w", err), now)
	}
	if n.Channel == alert.SMS {
		if err := r.lockSMS(dbctx, tx, p, now); err != nil {
			return err
		}
		if p.smsSent >= r.smsPerHour {
			return r.hold(ctx, dbctx, tx, p, n, now)
		}
	}
	id, err := r.pub.Publish(ctx, topic, msg)
	if err != nil {
		if !RefusedMessage(err) {
			p.broken[topic] = err
		}
		return r.attemptFailed(ctx, dbctx, tx, p, n, err, now)
	}
	if err := store.MarkNotificationSent(dbctx, tx, n, id, now); err != nil {
		return err
	}
	if n.Channel == alert.SMS {
		p.smsSent++
	}
	p.res.Sent++
	p.told(n.AlertID, n.Channel, func(h *store.ChannelHistory) { h.Told = true })
	p.delivered[n.Channel] = true
	p.notified[n.AlertID] = true
	r.log.DebugContext(ctx, "notification sent", "channel", n.Channel, "event", n.Event, "alert_id", n.AlertID,
		"notification_id", n.ID, "sns_message_id", id)
	return nil
}

// RefusedMessage reports whether err says that SNS refused the message
// itself (a parameter it finds invalid: too long, a bad subject or
// attribute), or the SDK refused to send it: another message to the same
// topic may well go through, so the failure is the message's alone. Any
// other error (throttling, 5xx, a missing topic or permission, no answer)
// is the topic's, and the pass stops calling it.
func RefusedMessage(err error) bool {
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return true
	}
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorFault() == smithy.FaultServer {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidParameter", "ParameterValueInvalid", "InvalidParameterValue", "ValidationException", "ValidationError":
		// Every message to a topic whose ARN is wrong fails alike.
		return !strings.Contains(api.ErrorMessage(), "TopicArn")
	}
	return false
}

// lockSMS takes the SMS lock and counts the SMS of the last hour, once a
// pass, before its first SMS. Until then the pass holds no row lock another
// relay may wait for with the SMS lock held (alerts are stamped in settle).
func (r *Relay) lockSMS(ctx context.Context, tx pgx.Tx, p *passState, now time.Time) error {
	if p.smsLocked {
		return nil
	}
	if err := store.LockSMS(ctx, tx); err != nil {
		return err
	}
	sent, err := store.CountSMSSent(ctx, tx, now.Add(-smsWindow))
	if err != nil {
		return err
	}
	p.smsLocked, p.smsSent = true, sent
	return nil
}

// hold marks SMS notification n HELD: the hour's SMS are used up. Its
// alert still goes out by email and webhook, and digest tells of it.
func (r *Relay) hold(ctx, dbctx context.Context, tx pgx.Tx, p *passState, n alert.Notification, now time.Time) error {
	why := fmt.Sprintf("held: %d SMS were sent in the last hour, the most SMS_MAX_PER_HOUR allows; the alert went by email and webhook, and one digest SMS tells how many were held", p.smsSent)
	if err := store.MarkNotificationHeld(dbctx, tx, n.ID, why, now); err != nil {
		return err
	}
	p.res.Held++
	p.smsHeld++
	r.log.WarnContext(ctx, "SMS held: hourly limit reached", "alert_id", n.AlertID, "notification_id", n.ID,
		"sms_last_hour", p.smsSent, "sms_max_per_hour", r.smsPerHour)
	return nil
}

// digest sends the one digest SMS of the hour, when SMS are held that no
// digest told of and no digest went out in the last hour: it tells how
// many SMS were held and where to look. A pass that had work looks (one
// query), so that SMS held after the hour's digest are told of once the
// hour is over, by the next pass with anything to send. The digest is not
// an outbox row; the held rows keep its message id. A digest that fails
// is logged, and the next such pass tries again.
func (r *Relay) digest(ctx, dbctx context.Context, tx pgx.Tx, p *passState, busy bool, now time.Time) error {
	topic := r.topics.SMS
	if (p.smsHeld == 0 && !busy) || topic == "" || ctx.Err() != nil {
		return nil
	}
	since := now.Add(-smsWindow)
	h, err := store.GetHeldSMS(dbctx, tx, since)
	if err != nil || h.DigestSent || h.Untold == 0 {
		return err
	}
	if err := p.broken[topic]; err != nil {
		r.log.ErrorContext(ctx, "digest SMS not sent: the SMS topic failed", "held", h.Untold, "error", err.Error())
		return nil
	}
	id, err := r.pub.Publish(ctx, topic, Digest(h.Untold, r.smsPerHour, h.MaxSeverity, r.apiURL))
	if err != nil {
		r.log.ErrorContext(ctx, "digest SMS not sent", "held", h.Untold, "error", err.Error())
		return nil
	}
	if err := store.TellHeldSMS(dbctx, tx, since, id); err != nil {
		return err
	}
	p.res.Digests++
	p.delivered[alert.SMS] = true
	r.log.WarnContext(ctx, "digest SMS sent", "held", h.Untold, "sns_message_id", id)
	return nil
}

// attemptFailed records a failed attempt: retry after the backoff, or give
// up when out of attempts.
func (r *Relay) attemptFailed(ctx, dbctx context.Context, tx pgx.Tx, p *passState, n alert.Notification, cause error, now time.Time) error {
	attempts := n.Attempts + 1
	why := truncate(oneLine(cause.Error()), maxErrorText)
	next, giveUp := r.retry.AfterFailure(attempts, now)
	if giveUp {
		if err := store.MarkNotificationFailed(dbctx, tx, n.ID, why); err != nil {
			return err
		}
		p.res.Failed++
		p.gaveUp[n.Channel] = append(p.gaveUp[n.Channel], failure{n: n, why: why})
		r.log.ErrorContext(ctx, "notification given up", "channel", n.Channel, "alert_id", n.AlertID,
			"notification_id", n.ID, "attempts", attempts, "error", why)
		return nil
	}
	if err := store.MarkNotificationRetry(dbctx, tx, n.ID, why, next); err != nil {
		return err
	}
	p.res.Retrying++
	r.log.WarnContext(ctx, "notification failed; will retry", "channel", n.Channel, "alert_id", n.AlertID,
		"notification_id", n.ID, "attempts", attempts, "next_attempt_at", next, "error", why)
	return nil
}

// notice loads what the message of n needs, once per pass for each alert,
// tenant and backup.
func (r *Relay) notice(ctx context.Context, tx pgx.Tx, p *passState, n alert.Notification) (Notice, error) {
	a, ok := p.alerts[n.AlertID]
	if !ok {
		var err error
		if a, err = store.GetAlert(ctx, tx, n.AlertID, false); err != nil {
			return Notice{}, err
		}
		p.alerts[n.AlertID] = a
	}
	notice := Notice{Event: n.Event, Severity: n.Severity, At: n.CreatedAt, Alert: a, APIURL: r.apiURL}
	if id := a.TenantID; id != nil {
		t, ok := p.tenants[*id]
		if !ok {
			got, err := store.GetTenant(ctx, tx, *id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return Notice{}, err
			}
			if err == nil {
				t = &got
			}
			p.tenants[*id] = t
		}
		notice.Tenant = t
	}
	if id := a.BackupID; id != nil {
		b, ok := p.backups[*id]
		if !ok {
			got, err := store.GetBackup(ctx, tx, *id, false)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return Notice{}, err
			}
			if err == nil {
				b = &got
			}
			p.backups[*id] = b
		}
		notice.Backup = b
	}
	return notice, nil
}

// settle stamps the alerts that got a notification out, and tells people
// about channels that fail: for each channel on which
// notifications were given up, it raises (or updates) a NOTIFICATION_FAILURE
// alert, which is not sent on the failing channel itself; for each channel
// that delivered and gave nothing up, it resolves that alert if open.
func (r *Relay) settle(ctx context.Context, tx pgx.Tx, p *passState, now time.Time) error {
	if err := store.StampAlertsNotified(ctx, tx, slices.Collect(maps.Keys(p.notified)), now); err != nil {
		return err
	}
	engine := r.engine.ForRun() // the stored routing table, read once if needed
	p.engine = engine
	for _, ch := range slices.Sorted(maps.Keys(p.gaveUp)) {
		fs := p.gaveUp[ch]
		alertIDs, ids := []string{}, []int64{}
		for _, f := range fs {
			ids = append(ids, f.n.ID)
			if id := f.n.AlertID.String(); !slices.Contains(alertIDs, id) {
				alertIDs = append(alertIDs, id)
			}
		}
		applied, err := engine.Apply(ctx, tx, decision.NotificationsUndeliverable(decision.Undeliverable{
			Channel: ch, Topic: r.topics.For(ch), GivenUp: ids, AlertIDs: alertIDs,
			MaxAttempts: r.retry.MaxAttempts, LastError: fs[len(fs)-1].why,
		}), now)
		if err != nil {
			return err
		}
		a := applied.Raised[0]
		if applied.Outcome[a.Fingerprint] != alerting.Updated {
			if _, err := store.SkipAlertNotifications(ctx, tx, a.ID, ch,
				"not sent on the "+string(ch)+" channel: it is the one failing"); err != nil {
				return err
			}
		}
	}
	for _, ch := range slices.Sorted(maps.Keys(p.delivered)) {
		if _, failing := p.gaveUp[ch]; failing {
			continue
		}
		if _, err := engine.Apply(ctx, tx, decision.NotificationDelivered(ch, now), now); err != nil {
			return err
		}
	}
	return nil
}
