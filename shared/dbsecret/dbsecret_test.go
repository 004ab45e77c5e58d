package dbsecret

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSecretURL(t *testing.T) {
	cases := []struct {
		name, secret, want string
		ok                 bool
	}{
		// RDS writes the port as a number.
		{"rds", `{"username":"owner","password":"p@ss/word","host":"db.example.com","port":5432,"dbname":"backupwatch","engine":"postgres"}`,
			"postgres://owner:p%40ss%2Fword@db.example.com:5432/backupwatch?sslmode=require", true},
		// Some tools write it as a string; no dbname means postgres.
		{"string port", `{"username":"u","password":"","host":"h","port":"6432"}`, "postgres://u:@h:6432/postgres?sslmode=require", true},
		{"no host", `{"username":"u","password":"p"}`, "", false},
		{"not json", `postgres://x`, "", false},
	}
	for _, tc := range cases {
		sec, err := Parse(tc.secret)
		got := ""
		if err == nil {
			got, err = sec.URL()
		}
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
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
