package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/objstore"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// Copy verification (issue 17): how fast the verifier proves a stored copy
// (GetObject from versitygw, streamed through SHA-256) against sha256sum of
// the same bytes read from versitygw's backing file, and the verifier
// process' peak memory at two object sizes (it must not grow with the
// object: one 1 MiB buffer, whatever the size).

// Verification sizes: the small object and the large one (1 GiB).
const (
	verifySmall = 64 << 20
	verifyLarge = 1 << 30
)

// verifyTargets are the section's targets: throughput within 1.5× of
// sha256sum; peak RSS under 64 MB at 1 GiB.
const (
	verifyMaxRatio = 1.5
	verifyMaxRSS   = 64 << 20
)

func runVerify(ctx context.Context, o Options, r *Report, env *Env, tmp string, logf func(string, ...any)) error {
	bin, err := testenv.VersitygwBinary()
	if err != nil {
		return err
	}
	probe, err := goBuild(ctx, o.Root, filepath.Join(tmp, "verifyprobe"), "./bench/verifyprobe")
	if err != nil {
		return err
	}
	dir := filepath.Join(tmp, "s3")
	if err := os.MkdirAll(filepath.Join(dir, "bw-r2"), 0o755); err != nil {
		return err
	}
	url, stop, err := startVersitygw(ctx, bin, dir)
	if err != nil {
		return err
	}
	defer stop()
	loc := backup.S3Location{EndpointURL: url, Bucket: "bw-r2", Region: testenv.VersitygwRegion, PathStyle: true}
	st := objstore.New(backup.R2, loc, objstore.Credentials{AccessKeyID: testenv.VersitygwAccessKey, SecretAccessKey: testenv.VersitygwSecretKey})
	// A database of its own: the verifier reads every copy due, and the
	// generated history is none of this section's business.
	if err := database.CreateDatabase(ctx, env.Cluster.URL("postgres", "postgres"), "verify", ""); err != nil {
		return err
	}
	if _, err := database.Migrate(ctx, env.Cluster.URL("postgres", "verify")); err != nil {
		return err
	}
	ownerURL, appURL := env.Cluster.URL("postgres", "verify"), env.Cluster.URL(database.AppRole, "verify")
	owner, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return err
	}
	defer owner.Close(context.WithoutCancel(ctx))
	raw, _ := json.Marshal(loc)
	if _, err := owner.Exec(ctx, `UPDATE storage_targets SET s3 = $1 WHERE name = 'r2'`, raw); err != nil {
		return err
	}
	probeEnv := append(os.Environ(), "DATABASE_URL="+appURL,
		"BACKUPWATCH_S3_R2_ACCESS_KEY_ID="+testenv.VersitygwAccessKey, "BACKUPWATCH_S3_R2_SECRET_ACCESS_KEY="+testenv.VersitygwSecretKey)

	sec := Section{Title: "Copy verification",
		Intro: "One object at the r2 target (versitygw " + testenv.VersitygwVersion + ", POSIX backend, on loopback), proven by a " +
			"verifier run in a process of its own (bench/verifyprobe: GetObject streamed through SHA-256, the copy's state and the " +
			"backup recorded). The baseline is `sha256sum` of versitygw's backing file, the same bytes without S3 in between; " +
			"both read from the page cache (the file is read once before either is timed). Median of 3; peak RSS is the probe's " +
			"(getrusage of the child, the Go runtime included).",
		Header: []string{"object", "verifier", "sha256sum", "verifier/sha256sum", "Go SHA-256 of the file", "verifier MB/s", "peak RSS"}}
	var ratioLarge float64
	var rss = map[int64]int64{}
	for _, size := range []int64{verifySmall, verifyLarge} {
		key := fmt.Sprintf("bench/%d.dump", size)
		sum, err := putRandom(ctx, st, key, size)
		if err != nil {
			return err
		}
		if _, err := owner.Exec(ctx, `DELETE FROM backups_backup WHERE filename LIKE 'bench-verify-%'`); err != nil {
			return err
		}
		if _, err := owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, filename, status, size_bytes, checksum, r2_path, created_at, updated_at)
			VALUES (gen_random_uuid(), 'FULL_DATABASE', $1, 'COMPLETED', $2, $3, $4, now(), now())`,
			fmt.Sprintf("bench-verify-%d", size), size, sum, loc.Path(backup.R2, key)); err != nil {
			return err
		}
		file := filepath.Join(dir, "bw-r2", filepath.FromSlash(key))
		if err := warm(file); err != nil {
			return err
		}
		var svc, base, gosum []float64
		var peak int64
		for range 3 {
			if _, err := owner.Exec(ctx, `DELETE FROM backup_copies`); err != nil {
				return err
			}
			secs, maxRSS, err := runProbe(ctx, probe, probeEnv, size)
			if err != nil {
				return err
			}
			svc, peak = append(svc, secs), max(peak, maxRSS)
			t0 := time.Now()
			out, err := exec.CommandContext(ctx, "sha256sum", file).Output()
			if err != nil {
				return fmt.Errorf("sha256sum: %w", err)
			}
			base = append(base, time.Since(t0).Seconds())
			if !strings.HasPrefix(string(out), sum) {
				return fmt.Errorf("sha256sum of %s says %s, the upload %s", file, out, sum)
			}
			t0 = time.Now()
			if got, err := hashFile(file); err != nil || got != sum {
				return fmt.Errorf("hashing %s: %s, %v", file, got, err)
			}
			gosum = append(gosum, time.Since(t0).Seconds())
		}
		s, b := median(svc), median(base)
		ratio := s / b
		rss[size] = peak
		if size == verifyLarge {
			ratioLarge = ratio
		}
		logf("verify %d MiB: verifier %.2f s, sha256sum %.2f s (%.2f×), peak RSS %.1f MB", size>>20, s, b, ratio, float64(peak)/1e6)
		sec.Rows = append(sec.Rows, []string{fmt.Sprintf("%d MiB", size>>20), fmt.Sprintf("%.2f s", s), fmt.Sprintf("%.2f s", b),
			fmt.Sprintf("%.2f×", ratio), fmt.Sprintf("%.2f s", median(gosum)), fmt.Sprintf("%.0f", float64(size)/s/1e6),
			fmt.Sprintf("%.1f MB", float64(peak)/1e6)})
		if err := os.Remove(file); err != nil {
			return err
		}
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("Peak RSS from %d MiB to %d MiB: %.1f → %.1f MB for 16× the bytes: the copy streams "+
		"through one 1 MiB buffer; what grows is the Go heap's garbage between collections, not the object.",
		verifySmall>>20, verifyLarge>>20, float64(rss[verifySmall])/1e6, float64(rss[verifyLarge])/1e6),
		"`sha256sum` is the target's baseline, as the issue names it; the coreutils build here hashes without the CPU's SHA "+
			"extensions, which Go's crypto/sha256 uses, so the verifier beats it. The Go column hashes the backing file in the "+
			"bench's process with the verifier's hasher and no S3 in between, a second baseline (the machine is shared: single "+
			"figures move by tens of per cent between runs).")
	r.Sections = append(r.Sections, sec)
	r.Summary = append(r.Summary,
		Row{Figure: "copy verification of 1 GiB, verifier/sha256sum of the backing file", Value: fmt.Sprintf("%.2f×", ratioLarge),
			Target: fmt.Sprintf("≤ %.1f×", verifyMaxRatio), Met: met(ratioLarge <= verifyMaxRatio)},
		Row{Figure: "verifier peak RSS, 1 GiB object", Value: fmt.Sprintf("%.1f MB", float64(rss[verifyLarge])/1e6),
			Baseline: fmt.Sprintf("%.1f MB at %d MiB", float64(rss[verifySmall])/1e6, verifySmall>>20),
			Target:   "< 64 MB", Met: met(rss[verifyLarge] < verifyMaxRSS)})
	return nil
}

// hashFile is the SHA-256 of file, read as the verifier reads a copy.
func hashFile(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// putRandom uploads size random bytes at key and returns their SHA-256.
func putRandom(ctx context.Context, st *objstore.Store, key string, size int64) (string, error) {
	f, err := os.CreateTemp("", "bench-verify-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return sum, st.Upload(ctx, key, f, size, sum)
}

// warm reads file once, so that both readers find it in the page cache.
func warm(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// runProbe runs one verification in the probe and returns how long it took
// by its own account and its peak RSS in bytes.
func runProbe(ctx context.Context, probe string, env []string, size int64) (float64, int64, error) {
	cmd := exec.CommandContext(ctx, probe)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("verifyprobe: %w: %s", err, out)
	}
	var res struct {
		Seconds   float64 `json:"seconds"`
		BytesRead int64   `json:"bytes_read"`
		Matched   int     `json:"matched"`
		PeakRSS   int64   `json:"peak_rss_bytes"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.BytesRead != size || res.Matched != 1 {
		return 0, 0, fmt.Errorf("verifyprobe read %d bytes, matched %d (want %d, 1): %s", res.BytesRead, res.Matched, size, out)
	}
	// The probe's own VmHWM: the rusage of a child counts the bench's
	// resident set at the fork (verifyprobe, peakRSS).
	if res.PeakRSS <= 0 {
		return 0, 0, fmt.Errorf("verifyprobe did not report its peak RSS: %s", out)
	}
	return res.Seconds, res.PeakRSS, nil
}

// startVersitygw starts versitygw over dir on a free loopback port.
func startVersitygw(ctx context.Context, bin, dir string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "--access", testenv.VersitygwAccessKey, "--secret", testenv.VersitygwSecretKey,
		"--region", testenv.VersitygwRegion, "--port", addr, "posix", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url + "/"); err == nil {
			resp.Body.Close()
			return url, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("versitygw did not answer on %s", url)
		}
	}
}

// median of xs (which it sorts).
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}
