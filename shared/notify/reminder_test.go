package notify_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/notify"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// latePool is the API's pool, known once the API has started: the check
// runner given to the API is built before it.
type latePool struct{ check.Pool }

// TestReminderUntilAcknowledged: a CRITICAL alert nobody acknowledges is
// told again, through goaws, by the first check run (POST /v1/checks/run)
// REMINDER_INTERVAL after its opening, then after each interval, with
// event "reminder" and how long it has been open; not before; and never
// again once acknowledged. The test drives the API's clock.
// newCheckedBench is newBench whose POST /v1/checks/run runs the checks
// with reminders every interval and then the bench's relay, as the
// scheduled function does; run starts one.
func newCheckedBench(t *testing.T, g *testenv.Goaws, interval time.Duration) (b *bench, run func() map[string]any) {
	t.Helper()
	pool := &latePool{}
	b = &bench{goaws: g}
	checks := check.New(check.Config{Pool: pool, Logger: testenv.Quiet(), ReminderInterval: interval,
		AfterRun: func(ctx context.Context) (int, error) { return b.relay.Run(ctx) }})
	b.API = testenv.NewAPIWith(t, httpapi.Config{Logger: testenv.Quiet(), Checks: checks,
		Hooks: httpapi.Hooks{AfterAlert: func(ctx context.Context) { b.relay.AfterAlert(ctx) }}})
	pool.Pool = b.Pool
	b.relay = snsRelay(t, g, notify.Config{})(b.API)
	b.operator, b.job = b.Key(t, "operator", ""), b.Key(t, "job", "")
	return b, func() map[string]any {
		t.Helper()
		return b.Call(t, 200, "POST", "/v1/checks/run", b.AdminKey, nil)
	}
}

func TestReminderUntilAcknowledged(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	b, run := newCheckedBench(t, g, 4*time.Hour)

	id := b.failFull(t, "full-2026-11-29.dump")
	wantCounts(t, b, 1, 1, 1)
	b.Clock.Advance(4*time.Hour - time.Minute)
	run()
	wantCounts(t, b, 1, 1, 1) // not yet

	b.Clock.Advance(2 * time.Minute) // 4 h 1 min after the opening
	if sum := run(); sum["notifications_sent"] != 3.0 {
		t.Errorf("the run sent %v notifications, want the 3 reminders", sum["notifications_sent"])
	}
	wantCounts(t, b, 2, 2, 2)
	for _, topic := range []string{emailTopic, smsTopic, webhookTopic} {
		want := map[string]string{"severity": "CRITICAL", "alert_type": "BACKUP_FAILURE", "event": "reminder"}
		if got := b.received(topic)[1].Attrs(); !maps.Equal(got, want) {
			t.Errorf("%s: %v, want %v", topic, got, want)
		}
	}
	email := b.received(emailTopic)[1]
	if !strings.HasPrefix(email.Subject, "[REMINDER CRITICAL, open 4 h 1 min] BACKUP_FAILURE") ||
		!strings.Contains(email.Message, "has been open for 4 h 1 min and nobody has acknowledged it yet") {
		t.Errorf("reminder email %q:\n%s", email.Subject, email.Message)
	}
	if sms := b.received(smsTopic)[1].Message; !strings.HasPrefix(sms, "backupwatch [REMINDER CRITICAL, open 4 h 1 min] BACKUP_FAILURE") {
		t.Errorf("reminder SMS %q", sms)
	}
	if hook := b.received(webhookTopic)[1].Message; !strings.Contains(hook, `"open_seconds":14460`) {
		t.Errorf("reminder webhook lacks open_seconds: %s", hook)
	}

	// The next reminder is an interval after the last one, not after the opening.
	b.Clock.Advance(3 * time.Hour)
	run()
	wantCounts(t, b, 2, 2, 2)
	b.Clock.Advance(time.Hour)
	run()
	wantCounts(t, b, 3, 3, 3)

	// Acknowledging stops them.
	b.Call(t, 200, "POST", "/v1/alerts/"+id+"/acknowledge", b.operator, map[string]any{"notes": "on it"})
	for range 3 {
		b.Clock.Advance(5 * time.Hour)
		run()
	}
	wantCounts(t, b, 3, 3, 3)
	if got := b.states(t, id); !maps.Equal(got, map[string]int{
		"email/opened/SENT": 1, "sms/opened/SENT": 1, "webhook/opened/SENT": 1,
		"email/reminder/SENT": 2, "sms/reminder/SENT": 2, "webhook/reminder/SENT": 2,
	}) {
		t.Errorf("outbox: %v", got)
	}
}
