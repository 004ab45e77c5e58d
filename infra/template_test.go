// Package infra_test checks template.yaml against the code: the SAM
// template must deploy exactly the routes the router serves, each on the
// function that owns it, and every function must build with the Makefile.
package infra_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/global"
	"gopkg.in/yaml.v3"

	"github.com/backupwatch/backupwatch/shared/console"
	"github.com/backupwatch/backupwatch/shared/httpapi"
)

func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// unmodeled are properties goformation v7 does not know and would refuse:
// the tests read them from the YAML nodes (templateYAML) instead.
var unmodeled = map[string][]string{
	"AWS::Serverless::Function": {"LoggingConfig"},
	"AWS::Serverless::HttpApi":  {"AccessLogSettings"},
}

func template(t *testing.T) *cloudformation.Template {
	t.Helper()
	doc := templateYAML(t)
	for _, sec := range []node{doc.get("Resources"), doc.path("Globals", "Function")} {
		for i := 0; i+1 < len(sec.Content); i += 2 {
			r := node{sec.Content[i+1]}
			props := r.get("Properties")
			keys := unmodeled[r.get("Type").val()]
			if sec.Node == doc.path("Globals", "Function").Node {
				props, keys = doc.path("Globals", "Function"), unmodeled["AWS::Serverless::Function"]
			}
			drop(props, keys)
		}
	}
	raw, err := yaml.Marshal(doc.Node)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := goformation.ParseYAML(raw)
	if err != nil {
		t.Fatalf("parsing template.yaml: %v", err)
	}
	return tpl
}

// drop removes keys from the mapping n.
func drop(n node, keys []string) {
	if n.Node == nil {
		return
	}
	for i := 0; i+1 < len(n.Content); {
		if slices.Contains(keys, n.Content[i].Value) {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			continue
		}
		i += 2
	}
}

// logicalID is the template name of the function that serves fn's routes.
func logicalID(fn string) string { return strings.ToUpper(fn[:1]) + fn[1:] + "Function" }

// TestTemplateRoutesMatchRouter: the (method, path, function) triples of the
// template's HttpApi events equal the router's route table.
func TestTemplateRoutesMatchRouter(t *testing.T) {
	tpl := template(t)
	inTemplate := map[string]string{}
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		for name, ev := range fn.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			if ev.Properties == nil || ev.Properties.HttpApiEvent == nil || ev.Properties.HttpApiEvent.Method == nil || ev.Properties.HttpApiEvent.Path == nil {
				t.Errorf("%s.%s: HttpApi event without Method and Path", id, name)
				continue
			}
			key := strings.ToUpper(*ev.Properties.HttpApiEvent.Method) + " " + *ev.Properties.HttpApiEvent.Path
			if prev, dup := inTemplate[key]; dup {
				t.Errorf("%s is in the template twice (%s and %s)", key, prev, id)
			}
			inTemplate[key] = id
		}
	}
	inRouter := map[string]string{}
	for _, rt := range httpapi.New(httpapi.Config{}).Routes() {
		inRouter[rt.Pattern()] = logicalID(rt.Function)
	}
	for _, rt := range console.Routes {
		inRouter[rt] = "ConsoleFunction"
	}
	for _, k := range sorted(inRouter) {
		switch got, ok := inTemplate[k]; {
		case !ok:
			t.Errorf("the router serves %s but template.yaml has no HttpApi event for it (on %s)", k, inRouter[k])
		case got != inRouter[k]:
			t.Errorf("%s is on %s in the template, but the router gives it to %s", k, got, inRouter[k])
		}
	}
	for _, k := range sorted(inTemplate) {
		if _, ok := inRouter[k]; !ok {
			t.Errorf("template.yaml routes %s to %s, but the router does not serve it", k, inTemplate[k])
		}
	}
	t.Logf("%d routes, template and router agree", len(inRouter))
}

// TestEveryFunctionBuilds: every functions/<name> is a function of the
// template built by SAM's makefile builder, and its build-<LogicalId> target
// builds that package.
func TestEveryFunctionBuilds(t *testing.T) {
	tpl := template(t)
	fns := tpl.GetAllServerlessFunctionResources()
	dirs, _ := filepath.Glob(filepath.Join(root(t), "functions", "*", "main.go"))
	if len(dirs) < 6 {
		t.Errorf("only %d functions", len(dirs))
	}
	for _, d := range dirs {
		name := filepath.Base(filepath.Dir(d))
		id := logicalID(name)
		fn, ok := fns[id]
		if !ok {
			t.Errorf("functions/%s has no %s in template.yaml", name, id)
			continue
		}
		if bm, _ := fn.AWSCloudFormationMetadata["BuildMethod"].(string); bm != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod %q, want makefile", id, bm)
		}
		cmd := exec.Command("make", "-n", "build-"+id, "ARTIFACTS_DIR=/tmp/artifacts")
		cmd.Dir = root(t)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "./functions/"+name) || !strings.Contains(string(out), "lambda.norpc") ||
			!strings.Contains(string(out), "GOARCH=arm64") || !strings.Contains(string(out), "/tmp/artifacts/bootstrap") {
			t.Errorf("make build-%s does not build functions/%s for Lambda: %v\n%s", id, name, err, out)
		}
	}
	for id := range fns {
		name := strings.ToLower(strings.TrimSuffix(id, "Function"))
		if _, err := os.Stat(filepath.Join(root(t), "functions", name, "main.go")); err != nil {
			t.Errorf("template function %s has no functions/%s", id, name)
		}
	}
}

// TestGlobalsAndInfrastructure: the Lambda runtime settings, the schedule
// of the checks and the three notification topics.
func TestGlobalsAndInfrastructure(t *testing.T) {
	tpl := template(t)
	g, _ := tpl.Globals["Function"].(*global.Function)
	if g == nil {
		t.Fatal("no Globals.Function")
	}
	if str(g.Runtime) != "provided.al2023" || str(g.Handler) != "bootstrap" || g.Architectures == nil || strings.Join(*g.Architectures, ",") != "arm64" {
		t.Errorf("Globals.Function: runtime %q, handler %q, architectures %v", str(g.Runtime), str(g.Handler), g.Architectures)
	}
	// No active tracing without the X-Ray SDK around the database and SNS
	// calls (template.yaml says why).
	if g.Timeout == nil || g.MemorySize == nil || str(g.Tracing) == "Active" {
		t.Errorf("Globals.Function needs Timeout and MemorySize, and no Tracing: Active")
	}
	// goformation does not model LoggingConfig; read it from the text.
	raw, _ := os.ReadFile(filepath.Join(root(t), "template.yaml"))
	globals := string(raw)[strings.Index(string(raw), "Globals:"):strings.Index(string(raw), "Resources:")]
	if !strings.Contains(globals, "LogFormat: JSON") {
		t.Errorf("Globals.Function does not log JSON")
	}
	if g.VpcConfig == nil {
		t.Errorf("Globals.Function has no VpcConfig: the functions must reach the database in its VPC")
	}
	for _, p := range []string{"Stage", "DatabaseUrl", "DbOwnerSecretArn", "SubnetIds", "SecurityGroupIds", "AlertEmail", "AlertPhoneNumber", "AlertWebhookUrl", "CheckRate"} {
		if _, ok := tpl.Parameters[p]; !ok {
			t.Errorf("parameter %s is missing", p)
		}
	}
	hc, ok := tpl.GetAllServerlessFunctionResources()["HealthcheckFunction"]
	if !ok {
		t.Fatal("no HealthcheckFunction")
	}
	schedules := 0
	for _, ev := range hc.Events {
		if ev.Type == "Schedule" || ev.Type == "ScheduleV2" {
			schedules++
		}
	}
	if schedules != 1 {
		t.Errorf("HealthcheckFunction has %d schedules, want 1", schedules)
	}
	if n := len(tpl.GetAllSNSTopicResources()); n != 3 {
		t.Errorf("%d SNS topics, want 3 (email, SMS, webhook)", n)
	}
}

func sorted(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TestHealthcheckErrorsAlarm: a CloudWatch alarm on the AWS/Lambda Errors
// of the healthcheck function, which errs when a check run fails as a
// whole or in part, tells the email alert topic. (Read as YAML nodes, as
// the notification tests do, so that the !Ref stay visible.)
func TestHealthcheckErrorsAlarm(t *testing.T) {
	res := templateYAML(t).get("Resources")
	found := 0
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, node{res.Content[i+1]}
		if r.get("Type").val() != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := r.get("Properties")
		if p.get("Namespace").val() != "AWS/Lambda" || p.get("MetricName").val() != "Errors" {
			continue
		}
		dims := p.get("Dimensions").items()
		if len(dims) != 1 || (node{dims[0]}).get("Name").val() != "FunctionName" ||
			(node{dims[0]}).get("Value").ref() != "Ref HealthcheckFunction" {
			continue
		}
		found++
		var actions []string
		for _, a := range p.get("AlarmActions").items() {
			actions = append(actions, node{a}.ref())
		}
		if !slices.Contains(actions, "Ref AlertEmailTopic") {
			t.Errorf("%s: alarm actions %v, want the email alert topic", id, actions)
		}
		if p.get("Threshold").val() != "1" || p.get("ComparisonOperator").val() != "GreaterThanOrEqualToThreshold" ||
			p.get("Statistic").val() != "Sum" {
			t.Errorf("%s: must fire on one error (Sum >= 1)", id)
		}
	}
	if found != 1 {
		t.Errorf("%d alarms on the healthcheck function's Errors, want 1", found)
	}
}
