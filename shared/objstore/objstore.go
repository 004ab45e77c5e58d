// Package objstore reaches the S3-compatible buckets backups are copied to
// (Cloudflare R2, Backblaze B2; versitygw in tests): it uploads a backup's
// file with its SHA-256 as the object's checksum, reads an object back as
// a stream, and lists a prefix. It knows nothing of the catalogue.
//
// Credentials never pass through the API. Each target's come from the
// environment: BACKUPWATCH_S3_<NAME>_ACCESS_KEY_ID and
// BACKUPWATCH_S3_<NAME>_SECRET_ACCESS_KEY, or, in AWS, the Secrets Manager
// secret BACKUPWATCH_S3_<NAME>_SECRET_ARN names ({"access_key_id",
// "secret_access_key"}).
package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/bucket"
	"github.com/backupwatch/backupwatch/shared/dbsecret"
)

// ErrNotFound is returned for an object that does not exist.
var ErrNotFound = bucket.ErrNotFound

// Credentials are a target's S3 access key.
type Credentials struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// EnvPrefix is the prefix of target name's credential variables:
// BACKUPWATCH_S3_R2_ for r2.
func EnvPrefix(target backup.Location) string {
	return "BACKUPWATCH_S3_" + strings.ToUpper(string(target)) + "_"
}

// CredentialsFor returns target's credentials: from the environment
// (EnvPrefix + ACCESS_KEY_ID and SECRET_ACCESS_KEY), else from the Secrets
// Manager secret EnvPrefix + SECRET_ARN names. An error says which
// variables to set.
func CredentialsFor(ctx context.Context, target backup.Location) (Credentials, error) {
	p := EnvPrefix(target)
	c := Credentials{AccessKeyID: os.Getenv(p + "ACCESS_KEY_ID"), SecretAccessKey: os.Getenv(p + "SECRET_ACCESS_KEY")}
	if c.AccessKeyID != "" && c.SecretAccessKey != "" {
		return c, nil
	}
	arn := os.Getenv(p + "SECRET_ARN")
	if arn == "" {
		return Credentials{}, fmt.Errorf("no credentials for storage target %s: set %sACCESS_KEY_ID and %sSECRET_ACCESS_KEY (or %sSECRET_ARN)", target, p, p, p)
	}
	raw, err := dbsecret.ReadString(ctx, arn)
	if err != nil {
		return Credentials{}, fmt.Errorf("%sSECRET_ARN: %w", p, err)
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("%sSECRET_ARN: the secret must be JSON with access_key_id and secret_access_key", p)
	}
	return c, nil
}

// Store is one target's bucket; it is a bucket.Reader.
type Store struct {
	Target backup.Location
	Loc    backup.S3Location
	client *s3.Client
}

// New returns the store of target at loc, signing with creds.
func New(target backup.Location, loc backup.S3Location, creds Credentials) *Store {
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(strings.TrimRight(loc.EndpointURL, "/")),
		Region:       loc.Region,
		UsePathStyle: loc.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		// Only the checksums this package sends itself (the file's
		// SHA-256): providers that do not know the SDK's default CRC32
		// refuse it, and reads are hashed here anyway.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           3,
		HTTPClient:                 &http.Client{Transport: transport()},
	})
	return &Store{Target: target, Loc: loc, client: client}
}

// Open returns target's store with its credentials (CredentialsFor).
func Open(ctx context.Context, target backup.Location, loc backup.S3Location) (*Store, error) {
	c, err := CredentialsFor(ctx, target)
	if err != nil {
		return nil, err
	}
	return New(target, loc, c), nil
}

// OpenReader is Open as the copy verifier takes it (verifier.Config.Open).
func OpenReader(ctx context.Context, target backup.Location, loc backup.S3Location) (bucket.Reader, error) {
	return Open(ctx, target, loc)
}

// transport is the HTTP transport of a store: a connection that stops
// answering fails its request instead of hanging the run.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 60 * time.Second
	t.DisableCompression = true // bytes as stored, never a gzip transfer
	return t
}

// Get opens the object at key for reading; ErrNotFound when there is none.
// size is its length as the store reports it.
func (s *Store) Get(ctx context.Context, key string) (body io.ReadCloser, size int64, err error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Loc.Bucket), Key: aws.String(key)})
	if err != nil {
		if notFound(err) {
			return nil, 0, fmt.Errorf("%s: %s: %w", s.Target, key, ErrNotFound)
		}
		return nil, 0, fmt.Errorf("reading %s from %s: %w", key, s.Target, err)
	}
	return out.Body, aws.ToInt64(out.ContentLength), nil
}

// Head is the size and metadata (x-amz-meta-*, names in lower case) of
// the object at key; ErrNotFound when there is none.
func (s *Store) Head(ctx context.Context, key string) (size int64, meta map[string]string, err error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Loc.Bucket), Key: aws.String(key)})
	if err != nil {
		if notFound(err) {
			return 0, nil, fmt.Errorf("%s: %s: %w", s.Target, key, ErrNotFound)
		}
		return 0, nil, fmt.Errorf("reading %s's metadata from %s: %w", key, s.Target, err)
	}
	meta = map[string]string{}
	for k, v := range out.Metadata {
		meta[strings.ToLower(k)] = v
	}
	return aws.ToInt64(out.ContentLength), meta, nil
}

// Object is one listed object.
type Object = bucket.Object

// List calls fn with every object under prefix, in key order.
func (s *Store) List(ctx context.Context, prefix string, fn func(Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.Loc.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing %s in %s: %w", prefix, s.Target, err)
		}
		for _, o := range page.Contents {
			if err := fn(Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes the object at key (tests and tools; the service never
// deletes a copy).
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Loc.Bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("deleting %s from %s: %w", key, s.Target, err)
	}
	return nil
}

func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}
