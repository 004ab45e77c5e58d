// Package verifier proves the stored copies of backups: it re-reads the
// copies at the S3 targets (R2, B2), streams each through SHA-256 and
// compares it with the catalogue's checksum, and once a day lists each
// target's prefix for objects the catalogue does not know (drift).
//
// The scheduled function (functions/verify), `backupwatch serve`'s timer
// (VERIFY_INTERVAL) and POST /v1/verifications/run all call Verifier.Run.
// A run:
//
//  1. claims the verifier (store.ClaimVerifier: an advisory lock and one
//     RUNNING verification_runs row with a lease), so runs never overlap;
//     a run that finds another going returns ErrBusy and records nothing;
//  2. reads, within its byte budget and its time, the copies read longest
//     ago (never read first; among equals the newest backups first, WAL
//     segments last: store.DueCopies). A copy larger than what is left of
//     the budget ends the run, unless it is the run's first;
//  3. records each copy's outcome in its own transaction, as /verify does:
//     a match marks the copy OK (and the backup VERIFIED at its first OK
//     copy) and takes it out of its series' INTEGRITY_FAILURE at that
//     location (decision.CopyMatched); a mismatch marks it MISMATCH and a
//     missing object MISSING, and either raises or updates that alert
//     (decision.CopyMismatched; a missing one says the copy is gone);
//  4. a target that cannot be read (credentials missing, the provider
//     down) is recorded as the run's error and left for the next run:
//     nothing is marked and nothing raised for it, so an outage is never
//     mistaken for lost copies;
//  5. lists each target not listed in the last ListEvery (default a day);
//  6. records the run (copies read, bytes, matches, mismatches, missing,
//     what remains due, errors), then relays the notifications it raised.
package verifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/bucket"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/logging"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Trigger says what started a run; it is recorded on the run.
type Trigger string

// The triggers.
const (
	Scheduled Trigger = "schedule" // the EventBridge rule
	OnDemand  Trigger = "api"      // POST /v1/verifications/run
	Timer     Trigger = "serve"    // backupwatch serve's VERIFY_INTERVAL timer
)

// The run statuses (verification_runs.status).
const (
	Running   = "RUNNING"
	Completed = "COMPLETED" // it ran; Errors says what it could not read
	Failed    = "FAILED"    // its own bookkeeping failed
)

// Defaults.
const (
	DefaultBytesPerRun = 50 << 30 // VERIFY_BYTES_PER_RUN
	DefaultListEvery   = 24 * time.Hour
	// DefaultMaxUnverified is VERIFY_MAX_UNVERIFIED's default.
	DefaultMaxUnverified = 7 * 24 * time.Hour
	// RunRetention is how long verification_runs rows are kept.
	RunRetention = 90 * 24 * time.Hour
	// leaseMargin is how long past its deadline a run's claim holds.
	leaseMargin = time.Minute
	// defaultDeadline bounds a run whose context has no deadline.
	defaultDeadline = 15 * time.Minute
	// finishReserve is the time kept, before the deadline, to record the
	// run: no copy starts later than this.
	finishReserve = 3 * time.Second
	// batch is how many due copies a run reads from the catalogue at a
	// time: each read sorts every copy, so a run of small WAL segments
	// should not need many.
	batch = 500
)

// ErrBusy is returned when another run holds the verifier.
var ErrBusy = errors.New("another verification run is going")

// ObjectStore is what the verifier needs of a target's bucket
// (*objstore.Store is one).
type ObjectStore = bucket.Reader

// Pool is what a verifier needs of the database (*pgxpool.Pool is one).
type Pool interface {
	store.Beginner
	store.DB
}

// Config is what a verifier is built from.
type Config struct {
	Pool   Pool
	Logger *slog.Logger
	// Routing says which channels each severity reaches when no table is
	// stored (nil: DESIGN.md's table).
	Routing alert.Routing
	// Open opens a target's bucket with its credentials: objstore.Open,
	// which the binaries that verify wire in (this package does not link
	// the S3 client). Nil: no target can be read.
	Open func(ctx context.Context, target backup.Location, loc backup.S3Location) (ObjectStore, error)
	// Metrics, if set, receives each run's bytes read and copies that did
	// not match (CloudWatch EMF lines).
	Metrics *logging.Metrics
	// AfterRun, if set, runs once a run is recorded: the notification relay.
	AfterRun func(ctx context.Context) (sent int, err error)
	// BytesPerRun is a scheduled run's budget (default DefaultBytesPerRun).
	BytesPerRun int64
	// ListEvery is how often each target's prefix is listed (default a day).
	ListEvery time.Duration
	// MaxUnverified is how recent a copy's last match must be for the
	// status to count it verified (default DefaultMaxUnverified).
	MaxUnverified time.Duration
}

// Verifier runs the copy verification.
type Verifier struct {
	cfg Config
	log *slog.Logger
}

// New returns a verifier.
func New(cfg Config) *Verifier {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Open == nil {
		cfg.Open = func(context.Context, backup.Location, backup.S3Location) (ObjectStore, error) {
			return nil, errors.New("this process cannot read buckets")
		}
	}
	if cfg.BytesPerRun <= 0 {
		cfg.BytesPerRun = DefaultBytesPerRun
	}
	if cfg.ListEvery <= 0 {
		cfg.ListEvery = DefaultListEvery
	}
	if cfg.MaxUnverified <= 0 {
		cfg.MaxUnverified = DefaultMaxUnverified
	}
	return &Verifier{cfg: cfg, log: cfg.Logger}
}

// BytesPerRun is a scheduled run's budget.
func (v *Verifier) BytesPerRun() int64 { return v.cfg.BytesPerRun }

// Summary is the account of one run; its JSON is POST
// /v1/verifications/run's answer.
type Summary struct {
	RunID      uuid.UUID `json:"run_id"`
	Trigger    Trigger   `json:"trigger"`
	Status     string    `json:"status"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	MaxBytes   int64     `json:"max_bytes"`
	CopiesRead int       `json:"copies_read"`
	BytesRead  int64     `json:"bytes_read"`
	Matched    int       `json:"matched"`
	Mismatched int       `json:"mismatched"`
	Missing    int       `json:"missing"`
	// Remaining counts the copies at readable targets still not read since
	// the run started: what the next runs have to do.
	Remaining int `json:"remaining"`
	// Listed names the targets whose prefix this run listed.
	Listed            []backup.Location `json:"listed"`
	NotificationsSent int               `json:"notifications_sent"`
	// Errors are what the run could not do (a target it could not read),
	// also kept on the run's row.
	Errors []string `json:"errors"`
}

// Options bound one run.
type Options struct {
	// MaxBytes is the run's byte budget (0: the verifier's BytesPerRun).
	MaxBytes int64
	// Deadline ends the run (zero: the context's, or 15 minutes).
	Deadline time.Time
}

// target is one S3 target a run reads.
type target struct {
	name   backup.Location
	loc    backup.S3Location
	store  ObjectStore
	broken error // set when it could not be read: the run leaves it alone
}

// Run verifies copies as of now within opts. It returns ErrBusy when
// another run is going, and an error of its own only when its bookkeeping
// failed; what it could not read is in the summary's Errors.
func (v *Verifier) Run(ctx context.Context, trigger Trigger, now time.Time, opts Options) (Summary, error) {
	now = now.UTC().Truncate(time.Microsecond)
	start := time.Now()
	deadline := opts.Deadline
	if deadline.IsZero() {
		if d, ok := ctx.Deadline(); ok {
			deadline = d
		} else {
			deadline = start.Add(defaultDeadline)
		}
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = v.cfg.BytesPerRun
	}
	sum := Summary{RunID: uuid.New(), Trigger: trigger, Status: Running, StartedAt: now, MaxBytes: opts.MaxBytes,
		Listed: []backup.Location{}, Errors: []string{}}
	ok, err := store.ClaimVerifier(ctx, v.cfg.Pool, store.VerificationRun{ID: sum.RunID, Trigger: string(trigger),
		StartedAt: now, LeaseUntil: now.Add(time.Until(deadline) + leaseMargin), MaxBytes: opts.MaxBytes})
	if err != nil {
		return sum, err
	}
	if !ok {
		return sum, ErrBusy
	}
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	engine := alerting.New(v.cfg.Routing).ForRun()
	targets, err := v.targets(runCtx, &sum)
	if err == nil {
		err = v.readCopies(runCtx, engine, targets, now, deadline, &sum)
	}
	if err == nil {
		v.listTargets(runCtx, targets, now, deadline, &sum)
		err = v.countRemaining(runCtx, targets, now, &sum)
	}
	if err == nil {
		err = store.InScope(runCtx, v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) error {
			_, err := store.CountCopies(runCtx, tx, now, v.cfg.MaxUnverified)
			return err
		})
	}
	sum.Status = Completed
	if err != nil {
		sum.Status = Failed
		sum.Errors = append(sum.Errors, err.Error())
	}
	sum.FinishedAt = now.Add(time.Since(start)).Truncate(time.Microsecond)
	fin := sum.FinishedAt
	rec := store.VerificationRun{ID: sum.RunID, Status: sum.Status, FinishedAt: &fin, CopiesRead: sum.CopiesRead,
		BytesRead: sum.BytesRead, Matched: sum.Matched, Mismatched: sum.Mismatched, Missing: sum.Missing,
		Remaining: sum.Remaining, Listed: len(sum.Listed) > 0, Errors: sum.Errors}
	if ferr := store.FinishVerification(context.WithoutCancel(ctx), v.cfg.Pool, rec, now.Add(-RunRetention)); ferr != nil {
		return sum, errors.Join(err, ferr)
	}
	if v.cfg.Metrics != nil {
		v.cfg.Metrics.VerifierRun(sum.BytesRead, sum.Mismatched+sum.Missing)
	}
	v.relay(ctx, &sum)
	if err != nil {
		return sum, fmt.Errorf("verification run %s: %w", sum.RunID, err)
	}
	return sum, nil
}

// targets opens the bucket of every target with an S3 location. One that
// cannot be opened is recorded and left out.
func (v *Verifier) targets(ctx context.Context, sum *Summary) ([]*target, error) {
	var all []backup.StorageTarget
	err := store.InScope(ctx, v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
		all, err = store.ListStorageTargets(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []*target
	for _, t := range all {
		if t.S3 == nil {
			continue
		}
		tg := &target{name: t.Name, loc: *t.S3}
		if tg.store, err = v.cfg.Open(ctx, t.Name, *t.S3); err != nil {
			v.broke(tg, err, sum)
		}
		out = append(out, tg)
	}
	return out, nil
}

// broke records that target t cannot be read in this run.
func (v *Verifier) broke(t *target, err error, sum *Summary) {
	t.broken = err
	sum.Errors = append(sum.Errors, fmt.Sprintf("target %s: %v", t.name, err))
	v.log.Warn("a storage target cannot be read; the next verification run tries again", "target", t.name, "error", err.Error())
}

// readable returns the targets not broken, by name.
func readable(targets []*target) map[backup.Location]*target {
	out := map[backup.Location]*target{}
	for _, t := range targets {
		if t.broken == nil {
			out[t.name] = t
		}
	}
	return out
}

// due are the targets' path prefixes, for the catalogue's due copies.
func due(m map[backup.Location]*target) store.DueTargets {
	out := store.DueTargets{}
	for name, t := range m {
		out[name] = t.loc.Path(name, "")
	}
	return out
}

// readCopies reads the due copies until the budget, the time or the due
// copies run out.
func (v *Verifier) readCopies(ctx context.Context, engine *alerting.Engine, targets []*target, now, deadline time.Time, sum *Summary) error {
	skipped := map[string]bool{} // copies this run could not read
	for {
		ok := readable(targets)
		if len(ok) == 0 {
			return nil
		}
		var copies []store.DueCopy
		err := store.InScope(ctx, v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
			copies, err = store.DueCopies(ctx, tx, due(ok), now, batch+len(skipped))
			return err
		})
		if err != nil {
			return err
		}
		progress := false
		for _, d := range copies {
			key := d.Backup.ID.String() + "/" + string(d.Location)
			t := ok[d.Location]
			if skipped[key] || t == nil || t.broken != nil {
				continue
			}
			size := int64(0)
			if d.Backup.SizeBytes != nil {
				size = *d.Backup.SizeBytes
			}
			if sum.CopiesRead > 0 && sum.BytesRead+size > sum.MaxBytes {
				return nil // the budget is spent
			}
			if time.Until(deadline) < finishReserve {
				return nil
			}
			read, err := v.verifyCopy(ctx, engine, t, d, now, sum)
			if err != nil {
				return err
			}
			if !read {
				skipped[key] = true
				continue
			}
			progress = true
		}
		if !progress {
			return nil
		}
	}
}

// verifyCopy reads one copy and records what it found. read is false when
// the copy could not be judged (its path is not in the target's bucket,
// or the target failed: then t is marked broken); err is the database's.
func (v *Verifier) verifyCopy(ctx context.Context, engine *alerting.Engine, t *target, d store.DueCopy, now time.Time, sum *Summary) (read bool, err error) {
	path := d.Backup.Path(d.Location)
	key, inBucket := t.loc.Key(t.name, *path)
	if !inBucket {
		sum.Errors = append(sum.Errors, fmt.Sprintf("backup %s: its %s path %s is not in bucket %s", d.Backup.ID, t.name, *path, t.loc.Bucket))
		return false, nil
	}
	got, n, err := hashObject(ctx, t.store, key)
	sum.BytesRead += n
	missing := errors.Is(err, bucket.ErrNotFound)
	if err != nil && !missing {
		v.broke(t, err, sum)
		return false, nil
	}
	sum.CopiesRead++
	want := ""
	if d.Backup.Checksum != nil {
		want = *d.Backup.Checksum
	}
	state := backup.CopyOK
	switch {
	case missing:
		state, got = backup.CopyMissing, decision.Gone
		sum.Missing++
	case got != want:
		state = backup.CopyMismatch
		sum.Mismatched++
	default:
		sum.Matched++
	}
	err = store.InScope(ctx, v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) error {
		return v.record(ctx, tx, engine, d, state, got, now)
	})
	if err != nil {
		return false, fmt.Errorf("recording the %s copy of backup %s: %w", d.Location, d.Backup.ID, err)
	}
	return true, nil
}

// record stores what a read of d found and carries out what it means for
// the backup and its series' INTEGRITY_FAILURE at d's location, as /verify
// does. A backup deleted or changed since it was listed is left alone.
func (v *Verifier) record(ctx context.Context, tx pgx.Tx, engine *alerting.Engine, d store.DueCopy, state backup.CopyState, got string, now time.Time) error {
	b, err := store.GetBackup(ctx, tx, d.Backup.ID, true)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p := b.Path(d.Location); p == nil || *p != *d.Backup.Path(d.Location) || !b.Status.Usable() {
		return nil
	}
	if err := store.RecordCopyCheck(ctx, tx, backup.CopyCheck{BackupID: b.ID, Location: d.Location, TenantID: b.TenantID,
		State: state, CheckedAt: now}); err != nil {
		return err
	}
	n := decision.Names{}
	if b.TenantID != nil {
		if t, err := store.GetTenant(ctx, tx, *b.TenantID); err == nil {
			n.TenantSlug = t.Slug
		}
	}
	if state != backup.CopyOK {
		_, _, err := engine.CopyMismatched(ctx, tx, b, d.Location, got, n, now)
		return err
	}
	vr, err := b.CheckVerify(got, d.Location, now)
	if err != nil {
		return err
	}
	if b.Status != backup.Verified { // VERIFIED at its first OK copy; verified_at stays the first's
		if err := store.UpdateBackup(ctx, tx, vr.Backup, b.Status); err != nil {
			return err
		}
	}
	_, err = engine.CopyMatched(ctx, tx, b, d.Location, n, now)
	return err
}

// hashObject streams the object at key through SHA-256: its hex digest and
// how many bytes were read.
func hashObject(ctx context.Context, s ObjectStore, key string) (string, int64, error) {
	body, _, err := s.Get(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer body.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(h, body, buf)
	if err != nil {
		return "", n, fmt.Errorf("reading %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// countRemaining counts the copies at readable targets still due.
func (v *Verifier) countRemaining(ctx context.Context, targets []*target, now time.Time, sum *Summary) error {
	ok := readable(targets)
	if len(ok) == 0 {
		return nil
	}
	return store.InScope(ctx, v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
		sum.Remaining, err = store.CountDueCopies(ctx, tx, due(ok), now)
		return err
	})
}

// relay runs the after-run hook; its failure is logged (the outbox keeps
// what it did not send).
func (v *Verifier) relay(ctx context.Context, sum *Summary) {
	if v.cfg.AfterRun == nil {
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	sent, err := v.cfg.AfterRun(hctx)
	sum.NotificationsSent = sent
	if err != nil {
		v.log.WarnContext(ctx, "relaying the verification run's notifications; the next relay sends what is left",
			"run_id", sum.RunID, "error", err.Error())
	}
}
