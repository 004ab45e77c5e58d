package functions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestBackupsFunctionNotifiesThroughSNS: the backups bootstrap under the
// emulator, configured as template.yaml configures it (ALERT_TOPIC_*_ARN)
// and pointed at goaws by the SDK's own AWS_ENDPOINT_URL_SNS, publishes a
// FAILED full backup's CRITICAL alert to the three topics before it answers.
func TestBackupsFunctionNotifiesThroughSNS(t *testing.T) {
	g := testenv.StartGoaws(t, "email", "sms", "webhook")
	db := testenv.NewDB(t)
	key := db.AdminKey(t)
	env := g.FunctionEnv(db.AppURL)
	backups := testenv.StartLambda(t, testenv.BuildFunction(t, "backups"), env)

	ev := event(t, "backups-create.json", key)
	body, _ := json.Marshal(map[string]any{"backup_type": "FULL_DATABASE", "filename": "full-2026-11-26.dump.zst",
		"status": "FAILED", "notes": "pg_dump exited 1: No space left on device"})
	ev.Body = string(body)
	if a := call(t, backups, ev); a.status != 201 {
		t.Fatalf("create failed backup: %+v\n%s", a, backups.Output())
	}
	for _, topic := range []string{"email", "sms", "webhook"} {
		got := g.Subscriber(topic).Received()
		if len(got) != 1 {
			t.Fatalf("%s subscriber received %d messages, want 1\n%s", topic, len(got), backups.Output())
		}
		if a := got[0].Attrs(); a["severity"] != "CRITICAL" || a["alert_type"] != "BACKUP_FAILURE" || a["event"] != "opened" {
			t.Errorf("%s attributes %v", topic, a)
		}
	}
	if s := g.Subscriber("email").Received()[0].Subject; s != "[CRITICAL] BACKUP_FAILURE: FULL_DATABASE full-2026-11-26.dump.zst" {
		t.Errorf("subject %q", s)
	}
	var sent int
	if err := db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM alert_notifications WHERE state = 'SENT' AND sns_message_id <> ''`).Scan(&sent); err != nil || sent != 3 {
		t.Errorf("%d notifications SENT with a message id (%v)", sent, err)
	}
	if strings.Contains(backups.Output(), `"level":"ERROR"`) {
		t.Errorf("the function logged errors:\n%s", backups.Output())
	}
}
