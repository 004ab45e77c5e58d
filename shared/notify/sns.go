package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/backupwatch/backupwatch/shared/awsenv"
)

// SNS publishes to Amazon SNS topics.
//
// It speaks SNS's Publish itself, one signed form POST of the Query
// protocol, rather than through the SDK's sns client, as shared/dbsecret
// speaks GetSecretValue: the client and the middleware stack under it
// were 1.5 MB of every function's bootstrap (of the console's 1.9 MB, whose
// templates keep every exported method of every type linked;
// bench/REPORT.md, cold start). SNS's answers come back as the SDK's would
// for RefusedMessage: an error response is a smithy.APIError with SNS's
// code, message and fault.
type SNS struct {
	endpoint string
	region   string
	creds    aws.CredentialsProvider
	client   *http.Client
	// Timeout bounds each Publish, its retry included, so that a slow SNS
	// cannot hold an API request or a check run: the relay retries later.
	Timeout time.Duration
}

// DefaultPublishTimeout bounds one Publish call.
const DefaultPublishTimeout = 5 * time.Second

// SNSConfig is where a publisher sends, and as whom.
type SNSConfig struct {
	// Endpoint is SNS's base URL (default: AWS_ENDPOINT_URL_SNS, else the
	// region's own).
	Endpoint    string
	Region      string
	Credentials aws.CredentialsProvider
	HTTPClient  *http.Client
}

// WithEndpoint points a publisher at url in region with static
// credentials: an emulator (goaws) in tests.
func WithEndpoint(url, region, keyID, secret string) func(*SNSConfig) {
	return func(c *SNSConfig) {
		c.Endpoint, c.Region = url, region
		c.Credentials = credentials.NewStaticCredentialsProvider(keyID, secret, "")
	}
}

// NewSNS returns a publisher configured the way the SDK configures itself:
// region and credentials from the environment or the Lambda role
// (shared/awsenv), and the endpoint from AWS_ENDPOINT_URL_SNS when set (the
// emulator in tests). opts adjust that.
func NewSNS(ctx context.Context, opts ...func(*SNSConfig)) (*SNS, error) {
	cfg, err := awsenv.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration for SNS: %w", err)
	}
	c := SNSConfig{Endpoint: awsenv.Endpoint("SNS"), Region: cfg.Region, Credentials: cfg.Credentials}
	for _, o := range opts {
		o(&c)
	}
	if c.Region == "" {
		return nil, errors.New("SNS: no AWS region (AWS_REGION)")
	}
	if c.Credentials == nil {
		return nil, errors.New("SNS: no AWS credentials")
	}
	if c.Endpoint == "" {
		suffix := "amazonaws.com"
		if strings.HasPrefix(c.Region, "cn-") {
			suffix = "amazonaws.com.cn"
		}
		c.Endpoint = "https://sns." + c.Region + "." + suffix
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	return &SNS{endpoint: strings.TrimRight(c.Endpoint, "/") + "/", region: c.Region, creds: c.Credentials,
		client: c.HTTPClient, Timeout: DefaultPublishTimeout}, nil
}

// ErrNoMessageID is returned when SNS accepted a message but named no id.
var ErrNoMessageID = errors.New("SNS returned no message id")

// publishRetryDelay is the pause before Publish's one retry of an answer
// that says to try again (a 5xx, throttling, or no answer at all): the
// relay's backoff is the retry that matters.
const publishRetryDelay = 200 * time.Millisecond

// Publish sends m to the topic. The subject is sent only when set (email).
func (p *SNS) Publish(ctx context.Context, topicARN string, m Message) (string, error) {
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	form := url.Values{"Action": {"Publish"}, "Version": {"2010-03-31"}, "TopicArn": {topicARN}, "Message": {m.Body}}
	if m.Subject != "" {
		form.Set("Subject", m.Subject)
	}
	names := make([]string, 0, len(m.Attributes))
	for k := range m.Attributes {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		e := "MessageAttributes.entry." + strconv.Itoa(i+1) + "."
		form.Set(e+"Name", k)
		form.Set(e+"Value.DataType", "String")
		form.Set(e+"Value.StringValue", m.Attributes[k])
	}
	body := []byte(form.Encode())
	id, retry, err := p.publish(ctx, body)
	if err != nil && retry && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(publishRetryDelay):
			id, _, err = p.publish(ctx, body)
		}
	}
	if err != nil {
		return "", fmt.Errorf("publishing to %s: %w", topicARN, err)
	}
	return id, nil
}

// publish is one signed Publish request; retry says whether its failure is
// worth one more try.
func (p *SNS) publish(ctx context.Context, body []byte) (id string, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return "", false, fmt.Errorf("AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sns", p.region, time.Now()); err != nil {
		return "", false, fmt.Errorf("signing: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", true, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", true, err
	}
	if resp.StatusCode != http.StatusOK {
		e := snsError(resp.StatusCode, raw)
		return "", e.Fault == smithy.FaultServer || e.Code == "Throttling" || e.Code == "ThrottlingException", e
	}
	var out struct {
		MessageID string `xml:"PublishResult>MessageId"`
	}
	if err := xml.Unmarshal(raw, &out); err != nil {
		return "", false, fmt.Errorf("reading SNS's answer: %w", err)
	}
	if out.MessageID == "" {
		return "", false, ErrNoMessageID
	}
	return out.MessageID, false, nil
}

// snsError is SNS's error response (the Query protocol's XML) as the
// SDK's generic API error: its code, message and fault.
func snsError(status int, raw []byte) *smithy.GenericAPIError {
	var doc struct {
		Error struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
	}
	_ = xml.Unmarshal(raw, &doc)
	e := &smithy.GenericAPIError{Code: doc.Error.Code, Message: doc.Error.Message, Fault: smithy.FaultClient}
	if e.Code == "" {
		e.Code = "HTTP" + strconv.Itoa(status)
		e.Message = strings.TrimSpace(string(raw))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	if status >= 500 || doc.Error.Type == "Receiver" {
		e.Fault = smithy.FaultServer
	}
	return e
}
