package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/objstore"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestUploadAndRead: a file of one part and one of several arrive whole,
// read back and list; a file whose bytes do not hash to the SHA-256 given
// is not stored; a missing object is ErrNotFound.
func TestUploadAndRead(t *testing.T) {
	vgw := testenv.StartVersitygw(t, "bw-r2")
	st := vgw.Store(backup.R2, "bw-r2")
	ctx := context.Background()
	for _, n := range []int{1000, objstore.SinglePartMax + 1, 2*objstore.MinPartSize + 5} {
		data := bytes.Repeat([]byte{byte(n)}, n)
		data[n/2] = 7
		sum := sha256.Sum256(data)
		key := "k/" + strings.Repeat("x", n%7+1)
		if err := st.Upload(ctx, key, bytes.NewReader(data), int64(n), hex.EncodeToString(sum[:])); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		body, _, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(body)
		body.Close()
		if !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d differing bytes", n, len(got))
		}
		other := sha256.Sum256(append(data, 1))
		err = st.Upload(ctx, "bad/"+key, bytes.NewReader(data), int64(n), hex.EncodeToString(other[:]))
		if !errors.Is(err, objstore.ErrChecksum) {
			t.Errorf("%d bytes under another SHA-256: %v", n, err)
		}
		if _, _, err := st.Get(ctx, "bad/"+key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("%d bytes under another SHA-256 were stored: %v", n, err)
		}
	}
	var keys []string
	if err := st.List(ctx, "", func(o objstore.Object) error { keys = append(keys, o.Key); return nil }); err != nil || len(keys) != 3 {
		t.Errorf("listed %v (%v), want the 3 uploads", keys, err)
	}
}

// TestProviderRejectsCorruption: the checksum the uploads send is checked
// by the provider: bytes that changed on the way (here, sent under
// another SHA-256) are refused and nothing is stored.
func TestProviderRejectsCorruption(t *testing.T) {
	vgw := testenv.StartVersitygw(t, "bw-r2")
	c := s3.New(s3.Options{BaseEndpoint: aws.String(vgw.URL), Region: testenv.VersitygwRegion, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testenv.VersitygwAccessKey, testenv.VersitygwSecretKey, "")})
	sent := []byte("the dump, as the wrapper hashed it")
	sum := sha256.Sum256(sent)
	arrived := append([]byte("THE"), sent[3:]...)
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bw-r2"), Key: aws.String("x"),
		Body: bytes.NewReader(arrived), ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:]))})
	if err == nil {
		t.Fatal("the provider stored bytes that do not match their x-amz-checksum-sha256")
	}
	if _, _, err := vgw.Store(backup.R2, "bw-r2").Get(context.Background(), "x"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("the corrupted object was stored: %v", err)
	}
}
