package functions_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestRefusalToStartIsJSON: a function that cannot start (here: no
// DATABASE_URL) says why on one JSON line, like every other line it logs,
// so that CloudWatch Logs Insights finds it by its fields.
func TestRefusalToStartIsJSON(t *testing.T) {
	l := testenv.StartLambda(t, testenv.BuildFunction(t, "backups"), map[string]string{"LOG_LEVEL": "info"})
	// The emulator answers 502 (the init failed); what matters is the log.
	if resp, err := http.Post(l.URL, "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
	}
	// The emulator's output reaches us through a pipe: wait for its own
	// closing line of the failed invoke (no time limit but the test's).
	for !strings.Contains(l.Output(), "Invoke DONE failed") {
		time.Sleep(10 * time.Millisecond)
	}
	var found bool
	for _, line := range strings.Split(l.Output(), "\n") {
		if !strings.Contains(line, "DATABASE_URL") || !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if m["level"] == "ERROR" && m["function"] == "backups" && strings.Contains(m["error"].(string), "DATABASE_URL is not set") {
			found = true
		}
	}
	if !found {
		t.Errorf("no JSON line says DATABASE_URL is missing:\n%s", l.Output())
	}
}
