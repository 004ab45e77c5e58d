package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/backupwatch/backupwatch/shared/awsenv"
)

// SNS publishes to Amazon SNS topics.
type SNS struct {
	client *sns.Client
	// Timeout bounds each Publish, retries included, so that a slow SNS
	// cannot hold an API request or a check run: the relay retries later.
	Timeout time.Duration
}

// DefaultPublishTimeout bounds one Publish call.
const DefaultPublishTimeout = 5 * time.Second

// NewSNS returns a publisher configured the way the SDK configures itself:
// region and credentials from the environment or the Lambda role, and the
// endpoint from AWS_ENDPOINT_URL_SNS when set (the emulator in tests). opts
// adjust the client after that. The SDK's own retries are cut to two
// attempts within a second: the relay's backoff is the retry that matters.
func NewSNS(ctx context.Context, opts ...func(*sns.Options)) (*SNS, error) {
	cfg, err := awsenv.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration for SNS: %w", err)
	}
	opts = append([]func(*sns.Options){func(o *sns.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.AddWithMaxAttempts(retry.NewStandard(), 2), time.Second)
		if ep := awsenv.Endpoint("SNS"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	}}, opts...)
	return &SNS{client: sns.NewFromConfig(cfg, opts...), Timeout: DefaultPublishTimeout}, nil
}

// ErrNoMessageID is returned when SNS accepted a message but named no id.
var ErrNoMessageID = errors.New("SNS returned no message id")

// Publish sends m to the topic. The subject is sent only when set (email).
func (p *SNS) Publish(ctx context.Context, topicARN string, m Message) (string, error) {
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	in := &sns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(m.Body)}
	if m.Subject != "" {
		in.Subject = aws.String(m.Subject)
	}
	if len(m.Attributes) > 0 {
		in.MessageAttributes = make(map[string]types.MessageAttributeValue, len(m.Attributes))
		names := make([]string, 0, len(m.Attributes))
		for k := range m.Attributes {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			in.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(m.Attributes[k])}
		}
	}
	out, err := p.client.Publish(ctx, in)
	if err != nil {
		return "", fmt.Errorf("publishing to %s: %w", topicARN, err)
	}
	if out.MessageId == nil || *out.MessageId == "" {
		return "", fmt.Errorf("publishing to %s: %w", topicARN, ErrNoMessageID)
	}
	return *out.MessageId, nil
}
