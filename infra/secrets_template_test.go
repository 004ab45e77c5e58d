package infra_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// functions are the template's functions by logical id.
func functions(tpl node) map[string]node {
	res := tpl.get("Resources")
	out := map[string]node{}
	for i := 0; i+1 < len(res.Content); i += 2 {
		if r := (node{res.Content[i+1]}); r.get("Type").val() == "AWS::Serverless::Function" {
			out[res.Content[i].Value] = r
		}
	}
	return out
}

// passwordInURL finds a password in a PostgreSQL URL or keyword string.
var passwordInURL = regexp.MustCompile(`(?i)://[^/@]*:[^/@]*@|password=`)

// TestDatabasePasswordFromSecretsManager: no function's environment holds
// the database password; DATABASE_URL is a parameter that cannot carry one
// and DATABASE_SECRET_ARN names the secret; every function that opens the
// runtime pool may read that one secret and nothing else of Secrets
// Manager, and the migrate function only the owner's. (Before issue 12,
// DatabaseUrl, password and all, sat in every function's environment.)
func TestDatabasePasswordFromSecretsManager(t *testing.T) {
	tpl := templateYAML(t)
	globals := tpl.path("Globals", "Function", "Environment", "Variables")
	if got := globals.get("DATABASE_URL").ref(); got != "Ref DatabaseUrl" {
		t.Errorf("Globals DATABASE_URL is %q, want !Ref DatabaseUrl", got)
	}
	if got := globals.get("DATABASE_SECRET_ARN").ref(); got != "Ref DatabaseSecretArn" {
		t.Errorf("Globals DATABASE_SECRET_ARN is %q, want !Ref DatabaseSecretArn", got)
	}
	envs := map[string]node{"Globals": globals}
	for id, fn := range functions(tpl) {
		envs[id] = fn.path("Properties", "Environment", "Variables")
	}
	for where, vars := range envs {
		for i := 0; i+1 < len(vars.items()); i += 2 {
			name, v := vars.Content[i].Value, vars.Content[i+1]
			if passwordInURL.MatchString(v.Value) || strings.Contains(strings.ToUpper(name), "PASSWORD") {
				t.Errorf("%s: %s carries a password", where, name)
			}
		}
	}
	// The parameter's pattern refuses a URL with a password.
	p := tpl.path("Parameters", "DatabaseUrl")
	pattern, err := regexp.Compile(p.get("AllowedPattern").val())
	if err != nil || p.get("AllowedPattern").val() == "" {
		t.Fatalf("DatabaseUrl needs an AllowedPattern: %v", err)
	}
	for url, ok := range map[string]bool{
		"postgres://backupwatch_app@proxy.example.com:5432/backupwatch?sslmode=verify-full": true,
		"postgres://backupwatch_app:s3cret@proxy.example.com:5432/backupwatch":              false,
		"postgres://proxy.example.com/backupwatch":                                          false,
	} {
		if pattern.MatchString(url) != ok {
			t.Errorf("DatabaseUrl pattern on %s: want match %v", url, ok)
		}
	}
	if tpl.path("Parameters", "DatabaseSecretArn", "Type").val() != "String" {
		t.Error("parameter DatabaseSecretArn is missing")
	}

	for id, fn := range functions(tpl) {
		var secrets []string
		for _, pol := range fn.path("Properties", "Policies").items() {
			n := node{pol}
			if arn := n.path("AWSSecretsManagerGetSecretValuePolicy", "SecretArn"); arn.Node != nil {
				if arn.Tag == "!If" && len(arn.Content) == 3 { // a storage target's key, when its secret is given
					secrets = append(secrets, "If "+arn.Content[0].Value+" "+(node{arn.Content[1]}).ref()+" else "+(node{arn.Content[2]}).ref())
					continue
				}
				secrets = append(secrets, arn.ref())
				continue
			}
			if raw, _ := yaml.Marshal(pol); strings.Contains(strings.ToLower(string(raw)), "secretsmanager") {
				t.Errorf("%s: only AWSSecretsManagerGetSecretValuePolicy may grant Secrets Manager, found:\n%s", id, raw)
			}
		}
		want := []string{"Ref DatabaseSecretArn"}
		switch id {
		case "MigrateFunction":
			want = []string{"Ref DbOwnerSecretArn"}
		case "VerifyFunction": // the copy verifier alone reads the buckets (issue 17)
			want = append(want, "If HasR2Credentials Ref R2CredentialsSecretArn else Ref DatabaseSecretArn",
				"If HasB2Credentials Ref B2CredentialsSecretArn else Ref DatabaseSecretArn")
		}
		if !slices.Equal(secrets, want) {
			t.Errorf("%s may read the secrets %v, want exactly %v", id, secrets, want)
		}
	}
}

// TestThrottlingAndReservedConcurrency: the HTTP API's stage throttles all
// routes, and each API function's concurrency can be reserved (and so
// capped, with its database connections).
func TestThrottlingAndReservedConcurrency(t *testing.T) {
	tpl := templateYAML(t)
	routes := tpl.path("Resources", "HttpApi", "Properties", "DefaultRouteSettings")
	for setting, param := range map[string]string{"ThrottlingRateLimit": "ApiThrottlingRateLimit", "ThrottlingBurstLimit": "ApiThrottlingBurstLimit"} {
		if got := routes.get(setting).ref(); got != "Ref "+param {
			t.Errorf("HttpApi DefaultRouteSettings.%s is %q, want !Ref %s", setting, got, param)
		}
		p := tpl.path("Parameters", param)
		if p.get("Type").val() != "Number" || p.get("Default").val() == "" || p.get("Default").val() == "0" {
			t.Errorf("parameter %s: want a Number with a default above 0", param)
		}
	}
	if p := tpl.path("Parameters", "ReservedConcurrency"); p.get("Type").val() != "Number" || p.get("Default").val() != "0" {
		t.Error("parameter ReservedConcurrency: want a Number defaulting to 0 (unreserved)")
	}
	c := tpl.path("Conditions", "HasReservedConcurrency")
	if c.Tag != "!Not" || len(c.Content) != 1 || c.Content[0].Tag != "!Equals" || c.Content[0].Content[0].Value != "ReservedConcurrency" || c.Content[0].Content[1].Value != "0" {
		t.Error("condition HasReservedConcurrency must be !Not [!Equals [!Ref ReservedConcurrency, 0]]")
	}
	for _, id := range []string{"BackupsFunction", "RestoresFunction", "AlertsFunction", "AdminFunction"} {
		r := functions(tpl)[id].path("Properties", "ReservedConcurrentExecutions")
		if r.Tag != "!If" || len(r.Content) != 3 || r.Content[0].Value != "HasReservedConcurrency" ||
			(node{r.Content[1]}).ref() != "Ref ReservedConcurrency" || (node{r.Content[2]}).ref() != "Ref AWS::NoValue" {
			t.Errorf("%s: ReservedConcurrentExecutions must be !If [HasReservedConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]", id)
		}
	}
}
