package logging

import (
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"
)

// Metrics writes the service's metrics as CloudWatch Embedded Metric Format
// (EMF) lines on the log: one JSON object per line that CloudWatch Logs
// turns into metrics of namespace Namespace, with no agent and no API call
// (a Lambda function needs no cloudwatch:PutMetricData permission, and a
// line costs a write to stdout). `backupwatch serve` writes the same lines
// to its log, where they read as log lines.
//
// Each line also carries "time", "level", "msg" and the process's attrs like
// every log line. Its level is the log's own (LOG_LEVEL, info at least), so
// that Lambda's application log-level filter, set from the same LogLevel,
// keeps it whatever the level.
//
// A nil *Metrics writes nothing: tests and tools that need no metrics pass
// none.
type Metrics struct {
	mu    sync.Mutex
	w     io.Writer
	level string
	stack string
	attrs map[string]any
	now   func() time.Time
}

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "backupwatch"

// Stack is the dimension every metric has first: the deployment that wrote
// it (BACKUPWATCH_STACK, which template.yaml sets to the stack's name;
// LocalStack for serve), so that two stacks in one account (staging and
// production) keep their metrics, and their alarms, apart.
const Stack = "Stack"

// LocalStack is the Stack of a deployment that names none.
const LocalStack = "local"

// The metrics, their units and dimensions besides Stack (README "Metrics";
// template.yaml alarms on CheckRunFailures and OldestPendingNotificationAge
// of its stack).
const (
	// BackupsReported counts backups reported (created or changed to a
	// status), by BackupType and Status.
	BackupsReported = "BackupsReported"
	// AlertsOpened counts alerts opened, by AlertType and Severity.
	AlertsOpened = "AlertsOpened"
	// CheckRunDuration is how long a check run took (milliseconds), and
	// CheckRunFailures 1 for a run that failed, wholly or in part, else 0.
	CheckRunDuration = "CheckRunDuration"
	CheckRunFailures = "CheckRunFailures"
	// RelayBacklog counts the notifications waiting to be sent after a
	// relay's run, and OldestPendingNotificationAge is the age of the oldest
	// of them (seconds; 0 when none waits).
	RelayBacklog                 = "RelayBacklog"
	OldestPendingNotificationAge = "OldestPendingNotificationAge"
	// VerifierBytes is how many bytes of stored copies a verifier run read,
	// and VerifierMismatches how many copies did not match the catalogue.
	VerifierBytes      = "VerifierBytes"
	VerifierMismatches = "VerifierMismatches"
)

// Units of EMF.
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
	Seconds      = "Seconds"
	Bytes        = "Bytes"
)

// NewMetrics returns metrics written to w (the log's writer) at the log's
// level, of deployment stack (the Stack dimension; "": LocalStack), each
// line with the given attrs (key, value pairs: "function", "backups").
func NewMetrics(w io.Writer, level, stack string, attrs ...any) *Metrics {
	if stack == "" {
		stack = LocalStack
	}
	m := &Metrics{w: w, level: lineLevel(level), stack: stack, attrs: map[string]any{}, now: time.Now}
	for i := 0; i+1 < len(attrs); i += 2 {
		if k, ok := attrs[i].(string); ok {
			m.attrs[k] = attrs[i+1]
		}
	}
	return m
}

// lineLevel is the level a metric line says: the log's, INFO at least.
func lineLevel(level string) string {
	switch l := strings.ToUpper(strings.TrimSpace(level)); l {
	case "WARN", "ERROR":
		return l
	}
	return "INFO"
}

// Value is one metric of a line: its name, value and unit.
type Value struct {
	Name  string
	Value float64
	Unit  string
}

// Dim is one dimension of a line: its name and value.
type Dim struct {
	Name, Value string
}

// Put writes one line with values, all under the dimension Stack and then
// the dimensions dims.
func (m *Metrics) Put(dims []Dim, values ...Value) {
	if m == nil || len(values) == 0 {
		return
	}
	now := m.now()
	line := make(map[string]any, len(m.attrs)+len(dims)+len(values)+5)
	for k, v := range m.attrs {
		line[k] = v
	}
	names := make([]string, 0, len(dims)+1)
	for _, d := range append([]Dim{{Stack, m.stack}}, dims...) {
		names = append(names, d.Name)
		line[d.Name] = d.Value
	}
	defs := make([]map[string]string, 0, len(values))
	for _, v := range values {
		defs = append(defs, map[string]string{"Name": v.Name, "Unit": v.Unit})
		line[v.Name] = v.Value
	}
	line["time"] = now.UTC().Format(time.RFC3339Nano)
	line["level"] = m.level
	line["msg"] = "metrics"
	line["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace": Namespace, "Dimensions": [][]string{names}, "Metrics": defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return // cannot be: strings and numbers only
	}
	b = append(b, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(b)
}

// BackupReported counts one backup reported with a type and a status.
func (m *Metrics) BackupReported(backupType, status string) {
	m.Put([]Dim{{"BackupType", backupType}, {"Status", status}}, Value{BackupsReported, 1, Count})
}

// AlertOpened counts one alert opened with a type and a severity.
func (m *Metrics) AlertOpened(alertType, severity string) {
	m.Put([]Dim{{"AlertType", alertType}, {"Severity", severity}}, Value{AlertsOpened, 1, Count})
}

// CheckRun records one check run: how long it took and whether it failed.
func (m *Metrics) CheckRun(took time.Duration, failed bool) {
	f := 0.0
	if failed {
		f = 1
	}
	m.Put(nil, Value{CheckRunDuration, float64(took.Milliseconds()), Milliseconds}, Value{CheckRunFailures, f, Count})
}

// RelayBacklogged records the notifications left waiting after a relay's
// run, and the age of the oldest.
func (m *Metrics) RelayBacklogged(pending int, oldest time.Duration) {
	m.Put(nil, Value{RelayBacklog, float64(pending), Count},
		Value{OldestPendingNotificationAge, float64(int64(oldest / time.Second)), Seconds})
}

// VerifierRun records one run of the copy verifier: the bytes it read and
// the copies that did not match. (The verifier calls it.)
func (m *Metrics) VerifierRun(bytesRead int64, mismatches int) {
	m.Put(nil, Value{VerifierBytes, float64(bytesRead), Bytes}, Value{VerifierMismatches, float64(mismatches), Count})
}
