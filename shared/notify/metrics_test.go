package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/logging"
	"github.com/backupwatch/backupwatch/shared/notify"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestRelayBacklogMetric: with SNS down, each Run (the scheduled relay)
// writes the backlog it leaves and the age of its oldest notification, the
// figure template.yaml alarms on past 30 minutes; once SNS is back and the
// backlog drained, both are 0.
func TestRelayBacklogMetric(t *testing.T) {
	g := testenv.StartGoaws(t, emailTopic, smsTopic, webhookTopic)
	var log testenv.Buffer
	b := newBench(t, g, func(api *testenv.API) *notify.Relay {
		return snsRelay(t, g, notify.Config{})(api).WithMetrics(logging.NewMetrics(&log, "info", ""))
	})
	last := func() map[string]any {
		t.Helper()
		var got map[string]any
		for _, l := range strings.Split(log.String(), "\n") {
			var line map[string]any
			if json.Unmarshal([]byte(l), &line) == nil && line["RelayBacklog"] != nil {
				got = line
			}
		}
		if got == nil {
			t.Fatalf("no backlog metric in %q", log.String())
		}
		return got
	}
	g.Stop(t)
	b.failFull(t, "full-2026-11-29.dump")
	b.Clock.Advance(31 * time.Minute)
	if _, err := b.relay.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l := last(); l["RelayBacklog"] != 3.0 || l["OldestPendingNotificationAge"] != 1860.0 {
		t.Errorf("with SNS down: %v", l)
	}
	g.Restart(t)
	b.Clock.Advance(time.Hour) // past every backoff
	if _, err := b.relay.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l := last(); l["RelayBacklog"] != 0.0 || l["OldestPendingNotificationAge"] != 0.0 {
		t.Errorf("drained: %v", l)
	}
}
