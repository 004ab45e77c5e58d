package infra_test

import (
	"debug/elf"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/backupwatch/backupwatch/shared/localpg"
	"github.com/backupwatch/backupwatch/shared/logging"
)

// The production safety nets of template.yaml (issue 22), read as YAML
// nodes so that the intrinsic functions stay visible.

// resources calls fn for each resource of type typ, in template order.
func resources(t *testing.T, typ string, fn func(id string, r node)) {
	t.Helper()
	res := templateYAML(t).get("Resources")
	for i := 0; i+1 < len(res.Content); i += 2 {
		if r := (node{res.Content[i+1]}); r.get("Type").val() == typ {
			fn(res.Content[i].Value, r)
		}
	}
}

func functionIDs(t *testing.T) []string {
	var ids []string
	resources(t, "AWS::Serverless::Function", func(id string, _ node) { ids = append(ids, id) })
	if len(ids) < 6 {
		t.Fatalf("only %d functions", len(ids))
	}
	return ids
}

// refs are the !Ref / !GetAtt targets of a sequence of such nodes.
func refs(n node) []string {
	var out []string
	for _, it := range n.items() {
		out = append(out, (node{it}).ref())
	}
	return out
}

// values are the scalars of a sequence.
func values(n node) []string {
	var out []string
	for _, it := range n.items() {
		out = append(out, it.Value)
	}
	return out
}

// TestLogGroupsAndLevels: each function logs JSON to a log group of its
// own with the LogRetentionDays retention, at the LogLevel parameter's
// level; the HTTP API writes an access log to its own group.
func TestLogGroupsAndLevels(t *testing.T) {
	doc := templateYAML(t)
	res := doc.get("Resources")
	if d := doc.path("Parameters", "LogRetentionDays", "Default").val(); d != "30" {
		t.Errorf("LogRetentionDays defaults to %q, want 30", d)
	}
	retained := func(group string) {
		t.Helper()
		lg := res.get(group)
		if lg.get("Type").val() != "AWS::Logs::LogGroup" || lg.path("Properties", "RetentionInDays").ref() != "Ref LogRetentionDays" {
			t.Errorf("%s is not a log group kept LogRetentionDays days", group)
		}
	}
	seen := map[string]bool{}
	for _, id := range functionIDs(t) {
		g := res.path(id, "Properties", "LoggingConfig", "LogGroup").ref()
		if !strings.HasPrefix(g, "Ref ") || seen[g] {
			t.Errorf("%s: LoggingConfig.LogGroup is %q, want a !Ref to a log group of its own", id, g)
			continue
		}
		seen[g] = true
		retained(strings.TrimPrefix(g, "Ref "))
	}
	lc := doc.path("Globals", "Function", "LoggingConfig")
	if lc.get("LogFormat").val() != "JSON" {
		t.Error("the functions must log JSON (ApplicationLogLevel filters JSON lines only)")
	}
	lvl := lc.get("ApplicationLogLevel")
	if lvl.Tag != "!FindInMap" || len(lvl.Content) != 3 || lvl.Content[0].Value != "LogLevels" || (node{lvl.Content[1]}).ref() != "Ref LogLevel" {
		t.Errorf("ApplicationLogLevel must follow the LogLevel parameter (!FindInMap [LogLevels, !Ref LogLevel, Application])")
	}
	for _, v := range doc.path("Parameters", "LogLevel", "AllowedValues").items() {
		want := strings.ToUpper(v.Value)
		if got := doc.path("Mappings", "LogLevels", v.Value, "Application").val(); got != want {
			t.Errorf("LogLevel %s maps to ApplicationLogLevel %q, want %s", v.Value, got, want)
		}
	}
	acc := res.path("HttpApi", "Properties", "AccessLogSettings")
	if acc.get("DestinationArn").ref() != "GetAtt HttpApiAccessLogGroup.Arn" || !strings.Contains(acc.get("Format").val(), "$context.status") {
		t.Error("the HTTP API must write an access log (status included) to HttpApiAccessLogGroup")
	}
	retained("HttpApiAccessLogGroup")
}

// TestScheduledChecksFailLoudly: a scheduled run that fails for good goes to
// a dead-letter queue; how old a retried event may be, the schedule and the
// "not running" alarm's period all follow CheckRate.
func TestScheduledChecksFailLoudly(t *testing.T) {
	doc := templateYAML(t)
	res := doc.get("Resources")
	hc := res.path("HealthcheckFunction", "Properties")
	eic := hc.get("EventInvokeConfig")
	if eic.path("DestinationConfig", "OnFailure", "Type").val() != "SQS" ||
		res.get(strings.TrimSuffix(strings.TrimPrefix(eic.path("DestinationConfig", "OnFailure", "Destination").ref(), "GetAtt "), ".Arn")).get("Type").val() != "AWS::SQS::Queue" {
		t.Error("HealthcheckFunction needs an on-failure destination that is an SQS queue")
	}
	findInMap := func(n node, key string) {
		t.Helper()
		if n.Tag != "!FindInMap" || len(n.Content) != 3 || n.Content[0].Value != "CheckRates" || (node{n.Content[1]}).ref() != "Ref CheckRate" || n.Content[2].Value != key {
			t.Errorf("want !FindInMap [CheckRates, !Ref CheckRate, %s]", key)
		}
	}
	findInMap(eic.get("MaximumEventAgeInSeconds"), "MaxEventAge")
	var schedules int
	for i := 0; i+1 < len(hc.get("Events").Content); i += 2 {
		ev := node{hc.get("Events").Content[i+1]}
		if ev.get("Type").val() == "Schedule" {
			schedules++
			findInMap(ev.path("Properties", "Schedule"), "Schedule")
		}
	}
	if schedules != 1 {
		t.Errorf("%d schedules", schedules)
	}
	// Every allowed rate has its row: the schedule says the rate, a retry
	// is never older than one period (it would overlap the next run), and
	// the alarm's period is the rate.
	rates := doc.path("Parameters", "CheckRate", "AllowedValues").items()
	if len(rates) == 0 || !slices.ContainsFunc(rates, func(n2 *yaml.Node) bool { return n2.Value == doc.path("Parameters", "CheckRate", "Default").val() }) {
		t.Fatal("CheckRate needs AllowedValues that include its default")
	}
	for _, r := range rates {
		m, _ := strconv.Atoi(r.Value)
		row := doc.path("Mappings", "CheckRates", r.Value)
		unit := "minutes"
		if m == 1 {
			unit = "minute"
		}
		age, _ := strconv.Atoi(row.get("MaxEventAge").val())
		period, _ := strconv.Atoi(row.get("AlarmPeriod").val())
		if row.get("Schedule").val() != "rate("+r.Value+" "+unit+")" || age < 60 || (m > 1 && age >= m*60) || period != m*60 {
			t.Errorf("CheckRates row %s: schedule %q, max event age %d, alarm period %d", r.Value, row.get("Schedule").val(), age, period)
		}
	}
}

// alarm is one CloudWatch alarm's essentials.
type alarm struct {
	id, namespace, metric, op, missing string
	dims                               map[string]string
	evals, threshold                   string
	actions, okActions                 []string
}

func alarms(t *testing.T) []alarm {
	var out []alarm
	resources(t, "AWS::CloudWatch::Alarm", func(id string, r node) {
		p := r.get("Properties")
		a := alarm{id: id, namespace: p.get("Namespace").val(), metric: p.get("MetricName").val(), op: p.get("ComparisonOperator").val(),
			missing: p.get("TreatMissingData").val(), evals: p.get("EvaluationPeriods").val(), threshold: p.get("Threshold").val(),
			actions: refs(p.get("AlarmActions")), okActions: refs(p.get("OKActions")), dims: map[string]string{}}
		for _, d := range p.get("Dimensions").items() {
			a.dims[(node{d}).get("Name").val()] = (node{d}).get("Value").ref()
		}
		out = append(out, a)
	})
	return out
}

// ofStack reports whether an alarm's dimensions are the service metrics'
// (shared/logging): Stack alone, the stack's own name, so that another
// stack's metrics in the same account do not trip it.
func ofStack(dims map[string]string) bool {
	return len(dims) == 1 && dims[logging.Stack] == "Ref AWS::StackName"
}

// TestAlarms: each function's Errors and Throttles, the HTTP API's 5xx,
// SNS deliveries that failed, the checks not running at all, and the
// dead-letter queues, each alarmed, each telling the CRITICAL channels
// (email and SMS; the webhook topic delivers alert JSON raw).
func TestAlarms(t *testing.T) {
	all := alarms(t)
	find := func(what string, match func(a alarm) bool) *alarm {
		t.Helper()
		for i := range all {
			if match(all[i]) {
				return &all[i]
			}
		}
		t.Errorf("no alarm on %s", what)
		return nil
	}
	for _, id := range functionIDs(t) {
		for _, m := range []string{"Errors", "Throttles"} {
			find(id+" "+m, func(a alarm) bool {
				return a.namespace == "AWS/Lambda" && a.metric == m && a.dims["FunctionName"] == "Ref "+id
			})
		}
	}
	find("the HTTP API's 5xx", func(a alarm) bool {
		return a.namespace == "AWS/ApiGateway" && a.metric == "5xx" && a.dims["ApiId"] == "Ref HttpApi" && a.dims["Stage"] == "Ref Stage"
	})
	for _, topic := range []string{"AlertEmailTopic", "AlertSmsTopic", "AlertWebhookTopic"} {
		find(topic+" deliveries", func(a alarm) bool {
			return a.namespace == "AWS/SNS" && a.metric == "NumberOfNotificationsFailed" && a.dims["TopicName"] == "GetAtt "+topic+".TopicName"
		})
	}
	if a := find("the checks not running", func(a alarm) bool {
		return a.namespace == "AWS/Lambda" && a.metric == "Invocations" && a.dims["FunctionName"] == "Ref HealthcheckFunction"
	}); a != nil && (a.op != "LessThanThreshold" || a.threshold != "1" || a.evals != "2" || a.missing != "breaching") {
		t.Errorf("the not-running alarm must fire below 1 invocation in 2 periods, missing data breaching: %+v", *a)
	}
	// The service's own EMF metrics (shared/logging): failed check runs,
	// and notifications waiting more than 30 minutes.
	if a := find("check-run failures", func(a alarm) bool {
		return a.namespace == logging.Namespace && a.metric == logging.CheckRunFailures
	}); a != nil && (a.op != "GreaterThanOrEqualToThreshold" || a.threshold != "1" || !ofStack(a.dims)) {
		t.Errorf("the check-run failures alarm must fire on one failure, on its stack's metric (Stack alone): %+v", *a)
	}
	if a := find("the relay backlog's age", func(a alarm) bool {
		return a.namespace == logging.Namespace && a.metric == logging.OldestPendingNotificationAge
	}); a != nil && (a.op != "GreaterThanThreshold" || a.threshold != "1800" || !ofStack(a.dims)) {
		t.Errorf("the relay backlog alarm must fire past 30 minutes (1800 s), on its stack's metric (Stack alone): %+v", *a)
	}
	// The functions name their stack in the metrics' Stack dimension.
	if got := templateYAML(t).path("Globals", "Function", "Environment", "Variables", "BACKUPWATCH_STACK").ref(); got != "Ref AWS::StackName" {
		t.Errorf("Globals BACKUPWATCH_STACK is %q, want !Ref AWS::StackName", got)
	}
	for _, q := range []string{"HealthcheckDeadLetterQueue", "SubscriptionDeadLetterQueue"} {
		find(q, func(a alarm) bool { return a.namespace == "AWS/SQS" && a.dims["QueueName"] == "GetAtt "+q+".QueueName" })
	}
	for _, a := range all {
		for _, topic := range []string{"Ref AlertEmailTopic", "Ref AlertSmsTopic"} {
			if !slices.Contains(a.actions, topic) || !slices.Contains(a.okActions, topic) {
				t.Errorf("alarm %s does not tell %s (actions %v, ok %v)", a.id, topic, a.actions, a.okActions)
			}
		}
		if slices.Contains(a.actions, "Ref AlertWebhookTopic") {
			t.Errorf("alarm %s publishes CloudWatch's JSON to the webhook topic, whose endpoint reads alert JSON", a.id)
		}
	}
}

// TestSubscriptionsRedriveAndTopicsEncrypted: email and webhook
// subscriptions keep what SNS could not deliver in a dead-letter queue that
// admits those topics only; the topics are encrypted with a key CloudWatch
// may use, and every publisher may use it too.
func TestSubscriptionsRedriveAndTopicsEncrypted(t *testing.T) {
	doc := templateYAML(t)
	res := doc.get("Resources")
	for _, sub := range []string{"AlertEmailSubscription", "AlertWebhookSubscription"} {
		if got := res.path(sub, "Properties", "RedrivePolicy", "deadLetterTargetArn").ref(); got != "GetAtt SubscriptionDeadLetterQueue.Arn" {
			t.Errorf("%s: redrive policy %q", sub, got)
		}
	}
	var admitted []string
	resources(t, "AWS::SQS::QueuePolicy", func(_ string, r node) {
		if slices.Contains(refs(r.path("Properties", "Queues")), "Ref SubscriptionDeadLetterQueue") {
			for _, st := range r.path("Properties", "PolicyDocument", "Statement").items() {
				s := node{st}
				if s.path("Principal", "Service").val() == "sns.amazonaws.com" && s.get("Action").val() == "sqs:SendMessage" {
					admitted = refs(s.path("Condition", "ArnEquals", "aws:SourceArn"))
				}
			}
		}
	})
	slices.Sort(admitted)
	if !slices.Equal(admitted, []string{"Ref AlertEmailTopic", "Ref AlertWebhookTopic"}) {
		t.Errorf("the subscriptions' dead-letter queue admits %v", admitted)
	}
	resources(t, "AWS::SNS::Topic", func(id string, r node) {
		k := r.path("Properties", "KmsMasterKeyId")
		if k.Tag != "!If" || len(k.Content) != 3 || k.Content[0].Value != "CreateAlertTopicKey" || (node{k.Content[1]}).ref() != "Ref AlertTopicKey" ||
			(node{k.Content[2]}).ref() != "Ref AlertTopicKeyArn" {
			t.Errorf("topic %s is not encrypted with AlertTopicKey or the AlertTopicKeyArn parameter's key", id)
		}
	})
	cw := false
	for _, st := range res.path("AlertTopicKey", "Properties", "KeyPolicy", "Statement").items() {
		s := node{st}
		acts := values(s.get("Action"))
		if s.path("Principal", "Service").val() == "cloudwatch.amazonaws.com" && slices.Contains(acts, "kms:Decrypt") && slices.Contains(acts, "kms:GenerateDataKey*") {
			cw = true
		}
	}
	if !cw {
		t.Error("AlertTopicKey does not let CloudWatch publish alarms to the encrypted topics")
	}
	// Whoever may publish may use the key.
	resources(t, "AWS::Serverless::Function", func(id string, r node) {
		publishes, usesKey := false, false
		for _, p := range r.path("Properties", "Policies").items() {
			pol := node{p}
			if pol.get("SNSPublishMessagePolicy").Node != nil {
				publishes = true
			}
			for _, st := range pol.get("Statement").items() {
				s := node{st}
				acts := values(s.get("Action"))
				res := s.get("Resource")
				if slices.Contains(acts, "kms:GenerateDataKey") && slices.Contains(acts, "kms:Decrypt") && res.Tag == "!If" &&
					len(res.Content) == 3 && res.Content[0].Value == "CreateAlertTopicKey" {
					usesKey = true
				}
			}
		}
		if publishes && !usesKey {
			t.Errorf("%s publishes to the encrypted topics without kms:GenerateDataKey and kms:Decrypt on their key", id)
		}
	})
}

// TestMigrateSeparateAndPatient: the migrate function has its own security
// group (no other function uses it), reads where to connect for an
// RDS-managed secret from the parameters, and make migrate-remote waits
// for it and prints its answer.
func TestMigrateSeparateAndPatient(t *testing.T) {
	doc := templateYAML(t)
	res := doc.get("Resources")
	m := res.path("MigrateFunction", "Properties")
	sgs := refs(m.path("VpcConfig", "SecurityGroupIds"))
	if !slices.Equal(sgs, []string{"Ref MigrateSecurityGroup"}) || res.path("MigrateSecurityGroup", "Type").val() != "AWS::EC2::SecurityGroup" {
		t.Errorf("MigrateFunction's security groups are %v, want its own MigrateSecurityGroup", sgs)
	}
	resources(t, "AWS::Serverless::Function", func(id string, r node) {
		if id != "MigrateFunction" && slices.Contains(refs(r.path("Properties", "VpcConfig", "SecurityGroupIds")), "Ref MigrateSecurityGroup") {
			t.Errorf("%s uses the migrate function's security group", id)
		}
	})
	vars := m.path("Environment", "Variables")
	if vars.get("DB_HOST").ref() != "Ref DatabaseHost" || vars.get("DB_NAME").ref() != "Ref DatabaseName" || vars.get("DB_PORT").Node == nil {
		t.Error("MigrateFunction needs DB_HOST, DB_PORT and DB_NAME from the parameters, for an RDS-managed owner secret")
	}
	mk, err := os.ReadFile(filepath.Join(root(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	recipe := string(mk)[strings.Index(string(mk), "\nmigrate-remote:"):]
	recipe = recipe[:strings.Index(recipe, "\n\n")]
	if !strings.Contains(recipe, "--cli-read-timeout 0") {
		t.Errorf("make migrate-remote must wait for a slow migration (--cli-read-timeout 0):\n%s", recipe)
	}
}

// TestSamBuildInSource: samconfig.toml builds in source, and each function's
// build-<LogicalId> target, run the way SAM's makefile builder runs it (in
// the source directory, ARTIFACTS_DIR set), builds an arm64 bootstrap while
// a PostgreSQL cluster like serve's lives in .local/ with its socket in its
// data directory, which a copying build could not copy.
func TestSamBuildInSource(t *testing.T) {
	top := root(t)
	cfg, err := os.ReadFile(filepath.Join(top, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	build := string(cfg)[strings.Index(string(cfg), "[default.build.parameters]"):]
	if i := strings.Index(build[1:], "\n["); i > 0 {
		build = build[:i+1]
	}
	if !strings.Contains(build, "build_in_source = true") {
		t.Errorf("samconfig.toml's [default.build.parameters] does not set build_in_source = true:\n%s", build)
	}

	dataDir := filepath.Join(top, ".local", "pg-sam-build-test")
	_ = os.RemoveAll(dataDir)
	cl, err := localpg.Start(t.Context(), localpg.Options{DataDir: dataDir, FsyncOff: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Stop(); _ = os.RemoveAll(dataDir) })
	sockets, _ := filepath.Glob(filepath.Join(dataDir, ".s.PGSQL.*"))
	if len(sockets) == 0 {
		t.Logf("the cluster's socket is outside .local (path too long here); building beside its data directory anyway")
	} else if fi, err := os.Stat(sockets[0]); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is not a live socket: %v", sockets[0], err)
	}

	for _, id := range functionIDs(t) {
		artifacts := t.TempDir()
		cmd := exec.Command("make", "build-"+id)
		cmd.Dir = top
		cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("make build-%s: %v\n%s", id, err, out)
			continue
		}
		f, err := elf.Open(filepath.Join(artifacts, "bootstrap"))
		if err != nil {
			t.Errorf("%s: no bootstrap: %v", id, err)
			continue
		}
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("%s: bootstrap is for %v, want arm64", id, f.Machine)
		}
		f.Close()
	}
	// The cluster lived through the builds.
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(cl.Port()))
	if err != nil {
		t.Errorf("the cluster stopped answering during the builds: %v", err)
	} else {
		conn.Close()
	}
}
