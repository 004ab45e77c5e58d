package migratefn

import "testing"

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
		got, err := secretURL(tc.secret)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
