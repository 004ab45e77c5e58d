package migratefn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/backupwatch/backupwatch/shared/awsenv"
)

// rdsSecret is the JSON that RDS and Secrets Manager's RDS rotation keep in
// a database secret.
type rdsSecret struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Host     string `json:"host"`
	Port     any    `json:"port"` // a number or a string, depending on who wrote it
	DBName   string `json:"dbname"`
}

// URLFromSecret reads an RDS-format database secret from Secrets Manager
// and returns its PostgreSQL URL (TLS required).
func URLFromSecret(ctx context.Context, arn string) (string, error) {
	cfg, err := awsenv.Load(ctx)
	if err != nil {
		return "", fmt.Errorf("loading AWS config: %w", err)
	}
	out, err := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if ep := awsenv.Endpoint("SECRETS_MANAGER"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	}).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", arn, err)
	}
	return secretURL(aws.ToString(out.SecretString))
}

func secretURL(s string) (string, error) {
	var sec rdsSecret
	if err := json.Unmarshal([]byte(s), &sec); err != nil {
		return "", fmt.Errorf("the database secret is not RDS-format JSON: %w", err)
	}
	port := "5432"
	switch p := sec.Port.(type) {
	case float64:
		port = strconv.Itoa(int(p))
	case string:
		if p != "" {
			port = p
		}
	}
	if sec.Host == "" || sec.Username == "" {
		return "", fmt.Errorf("the database secret lacks host or username")
	}
	db := sec.DBName
	if db == "" {
		db = "postgres"
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(sec.Username, sec.Password),
		Host: sec.Host + ":" + port, Path: "/" + db, RawQuery: "sslmode=require"}
	return u.String(), nil
}
