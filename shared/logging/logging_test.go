package logging_test

import (
	"bytes"
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/logging"
)

// TestEveryLineIsJSON: after Setup, the service's lines, slog's default
// and the standard log package (as libraries use them) all write one JSON
// object per line, with the function's attribute, at the configured level.
func TestEveryLineIsJSON(t *testing.T) {
	oldSlog, oldFlags, oldOut := slog.Default(), log.Flags(), log.Writer()
	t.Cleanup(func() { slog.SetDefault(oldSlog); log.SetFlags(oldFlags); log.SetOutput(oldOut) })

	var out bytes.Buffer
	l := logging.Setup(&out, "info", "function", "backups")
	l.Info("own line", "n", 1)
	l.Debug("below the level")
	slog.Warn("through slog's default")
	log.Printf("through the log package: %d", 42)

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"own line", "through slog's default", "through the log package: 42"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %s", i, line)
		}
		if m["msg"] != want[i] || m["function"] != "backups" {
			t.Errorf("line %d = %s, want msg %q and function backups", i, line, want[i])
		}
	}
}

// TestBadLevelIsInfo: a level the configuration would refuse still gives a
// working logger (boot logs the refusal through it), at info.
func TestBadLevelIsInfo(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	var out bytes.Buffer
	l := logging.Setup(&out, "loud")
	l.Debug("hidden")
	l.Info("shown")
	if s := out.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "shown") {
		t.Errorf("log = %s", s)
	}
}
