// Package dbsecret reads a database role's credentials from an RDS-format
// AWS Secrets Manager secret: the migrate function's schema owner, and the
// runtime role's password that the other functions read once at init
// (DATABASE_SECRET_ARN), so that no password sits in a function's
// environment.
package dbsecret

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/backupwatch/backupwatch/shared/awsenv"
)

// Secret is the JSON that RDS and Secrets Manager's RDS rotation keep in a
// database secret.
type Secret struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Host     string `json:"host"`
	Port     any    `json:"port"` // a number or a string, depending on who wrote it
	DBName   string `json:"dbname"`
}

// Read reads the secret arn from Secrets Manager (AWS_ENDPOINT_URL_SECRETS_MANAGER
// or AWS_ENDPOINT_URL overrides the endpoint).
//
// It speaks GetSecretValue itself, one signed JSON request, rather than
// through the SDK's secretsmanager client: every function reads the
// database secret at init, and the client added 390 KB to each bootstrap,
// past bench/README.md's 12 MB. The request signer is the one SNS links
// already.
func Read(ctx context.Context, arn string) (Secret, error) {
	cfg, err := awsenv.Load(ctx)
	if err != nil {
		return Secret{}, fmt.Errorf("loading AWS config: %w", err)
	}
	s, err := getSecretValue(ctx, cfg, arn)
	if err != nil {
		return Secret{}, fmt.Errorf("reading secret %s: %w", arn, err)
	}
	return Parse(s)
}

// ReadString reads the secret arn's string as it is stored: the storage
// targets' S3 keys (shared/objstore) are kept so, in a secret per target.
func ReadString(ctx context.Context, arn string) (string, error) {
	cfg, err := awsenv.Load(ctx)
	if err != nil {
		return "", fmt.Errorf("loading AWS config: %w", err)
	}
	s, err := getSecretValue(ctx, cfg, arn)
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", arn, err)
	}
	return s, nil
}

// getSecretValue is Secrets Manager's GetSecretValue: the secret's string.
func getSecretValue(ctx context.Context, cfg aws.Config, arn string) (string, error) {
	endpoint := awsenv.Endpoint("SECRETS_MANAGER")
	if endpoint == "" {
		suffix := "amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			suffix = "amazonaws.com.cn"
		}
		endpoint = "https://secretsmanager." + cfg.Region + "." + suffix
	}
	body, _ := json.Marshal(map[string]string{"SecretId": arn})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "secretsmanager", cfg.Region, time.Now()); err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	var out struct {
		SecretString *string `json:"SecretString"`
		Type         string  `json:"__type"`
		Message      string  `json:"message"`
	}
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("secretsmanager answered %d %s: %s", resp.StatusCode, out.Type, out.Message)
	}
	if out.SecretString == nil {
		return "", errors.New("the secret has no SecretString (a binary secret?)")
	}
	return *out.SecretString, nil
}

// Parse reads an RDS-format secret's JSON.
func Parse(s string) (Secret, error) {
	var sec Secret
	if err := json.Unmarshal([]byte(s), &sec); err != nil {
		return Secret{}, fmt.Errorf("the database secret is not RDS-format JSON: %w", err)
	}
	return sec, nil
}

// Where says where to connect when the secret does not: an RDS-managed
// secret (the "rds!…" ones RDS creates for its master user) holds only
// username and password, so the migrate function takes host, port and
// database name from the template's DatabaseHost, DatabasePort and
// DatabaseName parameters. The secret's own fields win where it has them
// (a self-managed secret, or one RDS's rotation keeps, says all).
type Where struct {
	Host   string
	Port   string
	DBName string
}

// URL is the secret's PostgreSQL URL (TLS required), for a role that
// connects where the secret says (the migrate function's schema owner).
func (sec Secret) URL() (string, error) { return sec.URLWith(Where{}) }

// URLWith is URL with w filling what the secret lacks. An error names
// every field still missing and where it could come from.
func (sec Secret) URLWith(w Where) (string, error) {
	port := w.Port
	switch p := sec.Port.(type) {
	case float64:
		port = strconv.Itoa(int(p))
	case string:
		if p != "" {
			port = p
		}
	}
	if port == "" {
		port = "5432"
	}
	host := cmp.Or(sec.Host, w.Host)
	var missing []string
	if sec.Username == "" {
		missing = append(missing, "username")
	}
	if sec.Password == "" {
		missing = append(missing, "password")
	}
	if host == "" {
		missing = append(missing, "host (an RDS-managed secret holds only username and password: set the DatabaseHost parameter, DB_HOST)")
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("the database secret lacks %s", strings.Join(missing, ", "))
	}
	db := cmp.Or(sec.DBName, w.DBName, "postgres")
	u := url.URL{Scheme: "postgres", User: url.UserPassword(sec.Username, sec.Password),
		Host: net.JoinHostPort(host, port), Path: "/" + db, RawQuery: "sslmode=require"}
	return u.String(), nil
}
