package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Upload sizes. A file up to SinglePartMax goes in one PutObject whose
// x-amz-checksum-sha256 is the whole file's SHA-256, which the provider
// checks before it keeps the object. A larger one goes in parts of at
// least MinPartSize (more when 10,000 parts would not hold it), each with
// its own SHA-256 that the provider checks; the whole file's hash,
// computed while streaming, must equal the one the caller gave before the
// upload is completed, else it is aborted. Memory: one part's buffer.
const (
	SinglePartMax = 16 << 20
	MinPartSize   = 16 << 20
	maxParts      = 10000
)

// ErrChecksum is returned when the bytes read from the file do not hash to
// the SHA-256 the upload was given: the file changed, or was misread.
var ErrChecksum = errors.New("the file's bytes do not match its SHA-256")

// Upload streams size bytes from r to key, checking them against sha256hex
// (64 lower-case hex digits), and stores the hash in the object's
// metadata (x-amz-meta-sha256) too.
func (s *Store) Upload(ctx context.Context, key string, r io.Reader, size int64, sha256hex string) error {
	return s.UploadMeta(ctx, key, r, size, sha256hex, nil)
}

// UploadMeta is Upload with more metadata (x-amz-meta-<name>, names in
// lower case), such as the backup the object is a copy of.
func (s *Store) UploadMeta(ctx context.Context, key string, r io.Reader, size int64, sha256hex string, more map[string]string) error {
	want, err := hex.DecodeString(sha256hex)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("uploading %s: the SHA-256 must be 64 hex digits", key)
	}
	meta := map[string]string{"sha256": sha256hex}
	for k, v := range more {
		meta[k] = v
	}
	if size <= SinglePartMax {
		buf, err := io.ReadAll(io.LimitReader(r, size+1))
		if err != nil {
			return fmt.Errorf("reading the file for %s: %w", key, err)
		}
		if sum := sha256.Sum256(buf); int64(len(buf)) != size || !bytes.Equal(sum[:], want) {
			return fmt.Errorf("uploading %s: %w", key, ErrChecksum)
		}
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.Loc.Bucket), Key: aws.String(key), Body: bytes.NewReader(buf),
			ContentLength: aws.Int64(size), ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(want)),
			Metadata: meta,
		})
		if err != nil {
			return fmt.Errorf("uploading %s to %s: %w", key, s.Target, err)
		}
		return nil
	}
	return s.uploadParts(ctx, key, r, size, want, meta)
}

// uploadParts is Upload of a file larger than one part.
func (s *Store) uploadParts(ctx context.Context, key string, r io.Reader, size int64, want []byte, meta map[string]string) (err error) {
	partSize := int64(MinPartSize)
	if n := (size + maxParts - 1) / maxParts; n > partSize {
		partSize = n
	}
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.Loc.Bucket), Key: aws.String(key), Metadata: meta,
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return fmt.Errorf("starting the upload of %s to %s: %w", key, s.Target, err)
	}
	id := created.UploadId
	defer func() {
		if err != nil {
			_, _ = s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.Loc.Bucket), Key: aws.String(key), UploadId: id})
		}
	}()
	whole := sha256.New()
	buf := make([]byte, partSize)
	var parts []types.CompletedPart
	var sent int64
	for n := int32(1); sent < size; n++ {
		chunk := min(partSize, size-sent)
		if _, err := io.ReadFull(r, buf[:chunk]); err != nil {
			return fmt.Errorf("reading the file for %s: %w", key, err)
		}
		whole.Write(buf[:chunk])
		sum := sha256.Sum256(buf[:chunk])
		part, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(s.Loc.Bucket), Key: aws.String(key), UploadId: id, PartNumber: aws.Int32(n),
			Body: bytes.NewReader(buf[:chunk]), ContentLength: aws.Int64(chunk),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		})
		if err != nil {
			return fmt.Errorf("uploading part %d of %s to %s: %w", n, key, s.Target, err)
		}
		parts = append(parts, types.CompletedPart{ETag: part.ETag, PartNumber: aws.Int32(n), ChecksumSHA256: part.ChecksumSHA256})
		sent += chunk
	}
	if extra, _ := r.Read(buf[:1]); extra > 0 {
		return fmt.Errorf("uploading %s: the file is longer than %d bytes: %w", key, size, ErrChecksum)
	}
	if !bytes.Equal(whole.Sum(nil), want) {
		return fmt.Errorf("uploading %s: %w", key, ErrChecksum)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.Loc.Bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("completing the upload of %s to %s: %w", key, s.Target, err)
	}
	return nil
}
