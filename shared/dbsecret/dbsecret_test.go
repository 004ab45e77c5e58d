package dbsecret

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSecretURL(t *testing.T) {
	rdsHost := Where{Host: "db.cluster-abc.eu-west-1.rds.amazonaws.com", DBName: "backupwatch"}
	cases := []struct {
		name, secret string
		where        Where
		want         string
		missing      []string // fields the error must name
	}{
		// A self-managed secret says all; RDS writes the port as a number.
		{"self-managed", `{"username":"owner","password":"p@ss/word","host":"db.example.com","port":5432,"dbname":"backupwatch","engine":"postgres"}`, Where{},
			"postgres://owner:p%40ss%2Fword@db.example.com:5432/backupwatch?sslmode=require", nil},
		// Its fields win over the parameters'.
		{"self-managed, parameters set too", `{"username":"owner","password":"pw","host":"db.example.com","port":5433,"dbname":"bw"}`, rdsHost,
			"postgres://owner:pw@db.example.com:5433/bw?sslmode=require", nil},
		// Some tools write the port as a string; no dbname means postgres.
		{"string port", `{"username":"u","password":"p","host":"h","port":"6432"}`, Where{}, "postgres://u:p@h:6432/postgres?sslmode=require", nil},
		// An RDS-managed master user secret ("rds!cluster-…") holds only
		// username and password: DatabaseHost and DatabaseName complete it.
		{"rds-managed", `{"username":"postgres","password":"Zx9+/q"}`, rdsHost,
			"postgres://postgres:Zx9+%2Fq@db.cluster-abc.eu-west-1.rds.amazonaws.com:5432/backupwatch?sslmode=require", nil},
		{"rds-managed without DatabaseHost", `{"username":"postgres","password":"Zx9"}`, Where{}, "", []string{"host", "DatabaseHost"}},
		{"nothing in it", `{}`, rdsHost, "", []string{"username", "password"}},
		{"not json", `postgres://x`, Where{}, "", []string{"not RDS-format JSON"}},
	}
	for _, tc := range cases {
		sec, err := Parse(tc.secret)
		got := ""
		if err == nil {
			got, err = sec.URLWith(tc.where)
		}
		if got != tc.want || (err == nil) != (tc.missing == nil) {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
		for _, m := range tc.missing {
			if err == nil || !strings.Contains(err.Error(), m) {
				t.Errorf("%s: the error %v does not name %q", tc.name, err, m)
			}
		}
	}
}

// TestRead: Read speaks Secrets Manager's JSON protocol, signed, to the
// endpoint AWS_ENDPOINT_URL_SECRETS_MANAGER names, and reports its errors.
func TestRead(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:backupwatch-app-AbCdEf"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		auth := r.Header.Get("Authorization")
		if r.Method != "POST" || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
			r.Header.Get("Content-Type") != "application/x-amz-json-1.1" ||
			!strings.Contains(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/eu-west-1/secretsmanager/aws4_request") {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"__type":"InvalidRequestException","message":"bad request"}`))
			return
		}
		if in.SecretId != arn {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": arn, "Name": "backupwatch-app",
			"SecretString": `{"username":"backupwatch_app","password":"s3cret/+pw","host":"db","port":5432}`})
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	sec, err := Read(t.Context(), arn)
	if err != nil || sec.Username != "backupwatch_app" || sec.Password != "s3cret/+pw" {
		t.Fatalf("Read: %+v %v", sec, err)
	}
	if _, err := Read(t.Context(), arn+"-other"); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("a missing secret: %v", err)
	}
}
