package verifier_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/objstore"
	"github.com/backupwatch/backupwatch/shared/testenv"
	"github.com/backupwatch/backupwatch/shared/verifier"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is an API over a fresh database and versitygw whose bucket bw-r2
// is the r2 target.
type world struct {
	api *testenv.API
	vgw *testenv.Versitygw
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{api: testenv.NewAPI(t), vgw: testenv.StartVersitygw(t, "bw-r2")}
	loc := w.vgw.Location("bw-r2", "")
	w.api.Call(t, 200, "PUT", "/v1/storage-targets/r2", w.api.AdminKey, map[string]any{"s3": map[string]any{
		"endpoint_url": loc.EndpointURL, "bucket": loc.Bucket, "region": loc.Region, "path_style": true}})
	return w
}

// backup stores n bytes at key in bw-r2 and reports a FULL_DATABASE backup
// with that r2 copy, created at created; it returns the backup's id.
func (w *world) backup(t *testing.T, key string, n int, created time.Time) string {
	t.Helper()
	data := bytes.Repeat([]byte(key), n/len(key)+1)[:n]
	sum := sha256.Sum256(data)
	if err := w.vgw.Store("r2", "bw-r2").Upload(context.Background(), key, bytes.NewReader(data), int64(n), hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	b := w.api.Call(t, 201, "POST", "/v1/backups", w.api.AdminKey, map[string]any{"backup_type": "FULL_DATABASE",
		"filename": key, "status": "COMPLETED", "size_bytes": n, "checksum": hex.EncodeToString(sum[:]), "r2_path": "r2://bw-r2/" + key})
	id := b["id"].(string)
	if _, err := w.api.Owner.Exec(context.Background(), `UPDATE backups_backup SET created_at = $2 WHERE id = $1`, id, created); err != nil {
		t.Fatal(err)
	}
	return id
}

// openWith opens versitygw's bucket with its credentials, wrapped by wrap.
func (w *world) openWith(wrap func(verifier.ObjectStore) verifier.ObjectStore) func(context.Context, backup.Location, backup.S3Location) (verifier.ObjectStore, error) {
	return func(_ context.Context, target backup.Location, loc backup.S3Location) (verifier.ObjectStore, error) {
		st := objstore.New(target, loc, objstore.Credentials{AccessKeyID: testenv.VersitygwAccessKey, SecretAccessKey: testenv.VersitygwSecretKey})
		return wrap(st), nil
	}
}

func (w *world) alerts(t *testing.T) int {
	t.Helper()
	got := w.api.Call(t, 200, "GET", "/v1/alerts/count?alert_type=INTEGRITY_FAILURE", w.api.AdminKey, nil)
	return int(got["count"].(float64))
}

// stopAfterFirst stops versitygw once the first object has been read
// whole: the provider goes away in the middle of a run.
type stopAfterFirst struct {
	verifier.ObjectStore
	once sync.Once
	stop func()
}

func (s *stopAfterFirst) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	body, n, err := s.ObjectStore.Get(ctx, key)
	if err != nil {
		return body, n, err
	}
	data, err := io.ReadAll(body)
	body.Close()
	s.once.Do(s.stop)
	return io.NopCloser(bytes.NewReader(data)), n, err
}

// TestProviderDownMidRun: versitygw stopped in the middle of a run. The
// run records the error and what it did read, marks nothing and raises
// nothing for the copies it could not read; the next run, with the
// provider back, reads them and completes.
func TestProviderDownMidRun(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC()
	for i := range 3 {
		w.backup(t, fmt.Sprintf("full-%d.dump", i), 1000+i, now.Add(-time.Duration(i)*time.Hour))
	}
	v := verifier.New(verifier.Config{Pool: w.api.Pool, Open: w.openWith(func(s verifier.ObjectStore) verifier.ObjectStore {
		return &stopAfterFirst{ObjectStore: s, stop: func() { w.vgw.Stop(t) }}
	})})
	sum, err := v.Run(context.Background(), verifier.Timer, now, verifier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != verifier.Completed || sum.CopiesRead != 1 || sum.Matched != 1 || sum.Missing != 0 || sum.Mismatched != 0 || len(sum.Errors) == 0 {
		t.Fatalf("the run with the provider gone: %+v", sum)
	}
	var recorded string
	var errs int
	if err := w.api.Owner.QueryRow(context.Background(), `SELECT status, jsonb_array_length(errors) FROM verification_runs WHERE id = $1`,
		sum.RunID).Scan(&recorded, &errs); err != nil || recorded != "COMPLETED" || errs == 0 {
		t.Errorf("the run's record: %s with %d errors (%v)", recorded, errs, err)
	}
	if n := w.alerts(t); n != 0 {
		t.Fatalf("%d INTEGRITY_FAILURE alerts for copies that could not be read", n)
	}
	if n := w.api.Count(t, "backup_copies"); n != 1 {
		t.Errorf("%d copies marked, want only the one read", n)
	}

	w.vgw.Start(t)
	v = verifier.New(verifier.Config{Pool: w.api.Pool, Open: objstore.OpenReader})
	w.vgw.SetEnv(t, "r2")
	sum, err = v.Run(context.Background(), verifier.Timer, now.Add(time.Hour), verifier.Options{})
	if err != nil || len(sum.Errors) != 0 || sum.CopiesRead != 3 || sum.Matched != 3 || sum.Remaining != 0 {
		t.Fatalf("the next run: %+v (%v)", sum, err)
	}
	if n := w.alerts(t); n != 0 {
		t.Errorf("%d alerts after every copy matched", n)
	}
}

// TestBudgetAndOrder: a run reads the copies never read first, the newest
// backups before older ones, stops before a copy that would pass its byte
// budget, and says how many remain (a copy in another bucket is none of
// them); the next run goes on from there, and
// once all have been read, the one read longest ago comes first.
func TestBudgetAndOrder(t *testing.T) {
	w := newWorld(t)
	w.vgw.SetEnv(t, "r2")
	now := time.Now().UTC()
	old := w.backup(t, "old.dump", 1000, now.Add(-72*time.Hour))
	mid := w.backup(t, "mid.dump", 1000, now.Add(-48*time.Hour))
	fresh := w.backup(t, "new.dump", 1000, now.Add(-24*time.Hour))
	// A copy in another bucket is not the r2 target's to read: never due.
	w.api.Call(t, 201, "POST", "/v1/backups", w.api.AdminKey, map[string]any{"backup_type": "FULL_DATABASE",
		"filename": "elsewhere.dump", "status": "COMPLETED", "size_bytes": 1, "checksum": testenv.Checksum("e"), "r2_path": "r2://elsewhere/x"})
	v := verifier.New(verifier.Config{Pool: w.api.Pool, Open: objstore.OpenReader})
	read := func(at time.Time, budget int64) (verifier.Summary, []string) {
		t.Helper()
		sum, err := v.Run(context.Background(), verifier.Timer, at, verifier.Options{MaxBytes: budget})
		if err != nil || len(sum.Errors) > 0 {
			t.Fatalf("run: %+v (%v)", sum, err)
		}
		rows, err := w.api.Owner.Query(context.Background(), `SELECT backup_id::text FROM backup_copies WHERE checked_at = $1 ORDER BY backup_id`, at.Truncate(time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		return sum, ids
	}
	sum, ids := read(now, 2500)
	if sum.CopiesRead != 2 || sum.Remaining != 1 || !sameSet(ids, fresh, mid) {
		t.Fatalf("first run read %v (%+v), want the two newest and one remaining", ids, sum)
	}
	sum, ids = read(now.Add(time.Minute), 1000)
	if sum.CopiesRead != 1 || !sameSet(ids, old) {
		t.Fatalf("second run read %v, want the one never read", ids)
	}
	// A copy larger than the whole budget is still read when it is first.
	sum, ids = read(now.Add(2*time.Minute), 10)
	if sum.CopiesRead != 1 || !sameSet(ids, fresh) && !sameSet(ids, mid) {
		t.Fatalf("third run read %v (%+v), want one of those read longest ago", ids, sum)
	}
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}
