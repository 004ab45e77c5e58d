package jobclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Outcome says what became of a report.
type Outcome int

const (
	// Delivered: the API took it (Answer holds its response).
	Delivered Outcome = iota
	// Queued: the API could not be reached; it waits in the spool.
	Queued
	// SetAside: the API refused it (4xx); it is kept in the spool's aside/.
	SetAside
	// Lost: the API could not be reached and the spool could not be
	// written either; said on stderr, as loudly as can be.
	Lost
)

func (o Outcome) String() string {
	return [...]string{"delivered", "queued", "set aside", "lost"}[o]
}

// Result is what Send did with a report.
type Result struct {
	Outcome Outcome
	Answer  Answer
	Err     error // why it was queued or set aside
}

// ID is the "id" of the object the API answered with ("" for none).
func (r Result) ID() string {
	var o struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(r.Answer.Body, &o)
	return o.ID
}

// why is the API's answer to a report set aside, or why it was not sent.
func (r Result) why() string {
	switch {
	case r.Answer.Status != 0:
		return r.Answer.Message()
	case r.Err != nil:
		return r.Err.Error()
	}
	return "refused"
}

// Reporter delivers reports through the spool.
type Reporter struct {
	Client   *Client
	Spool    *Spool
	RetryFor time.Duration
	// Log receives one line per report queued or set aside (stderr).
	Log io.Writer
	// NoWait queues a report at once when another process is delivering
	// the spool, instead of waiting for it (wal-archive: archiving must
	// never wait on the API).
	NoWait bool
	// Interrupted, once closed (a signal while run or restore held them),
	// ends the retries of a report that waits in the spool; nil: never.
	Interrupted <-chan struct{}
	// delivered holds the answers of this process's deliveries by key.
	delivered map[string]Answer
}

// NewReporter opens the spool of cfg.
func NewReporter(cfg Config, log io.Writer) (*Reporter, error) {
	sp, err := OpenSpool(cfg.Spool)
	if err != nil {
		return nil, err
	}
	return &Reporter{Client: NewClient(cfg), Spool: sp, RetryFor: cfg.RetryFor, Log: log}, nil
}

// Send delivers e after everything queued before it. When the API cannot
// be reached, e is queued and retried with backoff for RetryFor; a refusal
// sets it aside. The spool's lock is held only while delivering, never
// while waiting, so that other jobs are not held up.
func (r *Reporter) Send(ctx context.Context, e *Entry) Result {
	return r.SendFor(ctx, e, r.RetryFor)
}

// SendFor is Send retrying for retryFor (0: one attempt, then queued).
func (r *Reporter) SendFor(ctx context.Context, e *Entry, retryFor time.Duration) Result {
	res := r.sendOnce(ctx, e)
	deadline := time.Now().Add(retryFor)
	for wait := time.Second; res.Outcome == Queued && time.Now().Add(wait).Before(deadline); wait = min(2*wait, 30*time.Second) {
		var t *TransientError
		if errors.As(res.Err, &t) && t.RetryAfter > wait {
			wait = t.RetryAfter
		}
		r.pause(ctx, wait)
		if ctx.Err() != nil || r.interrupted() {
			// The report is in the spool: a signal ends the wait, and
			// flush or the next run delivers it.
			break
		}
		if _, err := r.Flush(ctx); err != nil && !IsTransient(err) {
			res.Err = err
			break
		}
		if a, ok := r.delivered[e.Key]; ok {
			return Result{Outcome: Delivered, Answer: a}
		}
		if r.Spool.isAside(e.Key) {
			return Result{Outcome: SetAside, Err: errors.New("refused when delivered from the spool")}
		}
	}
	if res.Outcome == Queued {
		why := "API unreachable"
		if !IsTransient(res.Err) {
			why = "not delivered yet" // behind others, or another process is delivering
		}
		fmt.Fprintf(r.Log, "backupwatch: %s: %s (%v); queued in %s for the next run or `backupwatch flush`\n", e.What, why, res.Err, r.Spool.Dir())
	}
	return res
}

// pause waits d, or until ctx ends or Interrupted is closed.
func (r *Reporter) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-r.Interrupted:
	case <-t.C:
	}
}

// interrupted reports whether Interrupted is closed.
func (r *Reporter) interrupted() bool {
	select {
	case <-r.Interrupted:
		return true
	default:
		return false
	}
}

// sendOnce flushes the queue, then delivers e if nothing is left before it.
func (r *Reporter) sendOnce(ctx context.Context, e *Entry) Result {
	lock := r.Spool.Lock
	if r.NoWait {
		lock = r.Spool.TryLock
	}
	unlock, err := lock()
	if errors.Is(err, ErrBusy) {
		e.LastError = err.Error()
		if aerr := r.Spool.Append(e); aerr != nil {
			return r.lost(e, err, aerr)
		}
		return Result{Outcome: Queued, Err: err}
	}
	if err != nil {
		// Without the lock, order cannot be kept: deliver it now or lose it.
		if r.NoWait {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, noWaitTimeout)
			defer cancel()
		}
		a, derr := r.attempt(ctx, e)
		if derr == nil {
			return Result{Outcome: Delivered, Answer: a}
		}
		return r.lost(e, derr, err)
	}
	defer unlock()
	if r.NoWait {
		return r.sendNow(ctx, e)
	}
	empty, err := r.flushLocked(ctx)
	if !empty {
		if err == nil {
			err = errors.New("earlier reports are still queued before it")
		}
		e.LastError = err.Error()
		if aerr := r.Spool.Append(e); aerr != nil {
			return r.lost(e, err, aerr)
		}
		return Result{Outcome: Queued, Err: err}
	}
	return r.deliverOne(ctx, e, false)
}

// noWaitTimeout bounds a NoWait delivery, whatever BACKUPWATCH_TIMEOUT is.
const noWaitTimeout = 3 * time.Second

// sendNow is sendOnce for NoWait (the lock held): e alone is delivered,
// only when nothing is queued before it, and under a short timeout;
// otherwise it is queued, and the backlog left to `flush` and later runs.
func (r *Reporter) sendNow(ctx context.Context, e *Entry) Result {
	queued, err := r.Spool.Queued()
	if err == nil && len(queued) > 0 {
		err = fmt.Errorf("%s still queued before it", reports(len(queued)))
	}
	if err != nil {
		e.LastError = err.Error()
		if aerr := r.Spool.Append(e); aerr != nil {
			return r.lost(e, err, aerr)
		}
		return Result{Outcome: Queued, Err: err}
	}
	short, cancel := context.WithTimeout(ctx, noWaitTimeout)
	defer cancel()
	res := r.deliverOne(short, e, false)
	if res.Outcome == Queued && ctx.Err() == nil && short.Err() != nil {
		res.Err = &TransientError{Err: fmt.Errorf("no answer within %s", noWaitTimeout)}
	}
	return res
}

// lost says that e could be neither delivered (why) nor queued (spoolErr).
func (r *Reporter) lost(e *Entry, why, spoolErr error) Result {
	err := fmt.Errorf("report LOST: %s: not delivered (%v) and not queued (%v)", e.What, why, spoolErr)
	fmt.Fprintf(r.Log, "backupwatch: %v\n", err)
	return Result{Outcome: Lost, Err: err}
}

// FlushSummary counts what a flush did.
type FlushSummary struct {
	Delivered, Aside, Queued int
}

// Flush delivers the queue in order until it is empty or the API cannot be
// reached. It returns the last transient error when reports remain.
func (r *Reporter) Flush(ctx context.Context) (FlushSummary, error) {
	unlock, err := r.Spool.Lock()
	if err != nil {
		return FlushSummary{}, err
	}
	defer unlock()
	before := r.counts()
	_, err = r.flushLocked(ctx)
	after := r.counts()
	q, _ := r.Spool.Queued()
	return FlushSummary{Delivered: after.Delivered - before.Delivered, Aside: after.Aside - before.Aside, Queued: len(q)}, err
}

func (r *Reporter) counts() FlushSummary {
	a, _ := r.Spool.Aside()
	return FlushSummary{Delivered: len(r.delivered), Aside: len(a)}
}

// flushLocked delivers queued entries in order; it stops at the first one
// the API cannot take now. empty reports whether the queue is empty.
func (r *Reporter) flushLocked(ctx context.Context) (empty bool, err error) {
	queued, err := r.Spool.Queued()
	if err != nil {
		return false, err
	}
	for _, e := range queued {
		res := r.deliverOne(ctx, e, true)
		if res.Outcome == Queued {
			e.LastError = res.Err.Error()
			_ = r.Spool.Update(e)
			return false, res.Err
		}
	}
	return true, nil
}

// deliverOne sends e once. A refusal sets it aside; a transient failure
// queues it (fromSpool: it already is).
func (r *Reporter) deliverOne(ctx context.Context, e *Entry, fromSpool bool) Result {
	a, err := r.attempt(ctx, e)
	var refused *RefusedError
	switch {
	case err == nil:
		if r.delivered == nil {
			r.delivered = map[string]Answer{}
		}
		r.delivered[e.Key] = a
		if fromSpool {
			// Updates queued behind this create need its id, and so does
			// one its run has not sent yet (a flush delivered the start
			// while the backup ran). (Entries spooled before Awaited
			// existed: the -start keys.) An update delivered forgets it;
			// Created prunes what none ever asked for.
			awaited := e.Awaited || strings.HasSuffix(e.Key, "-start")
			if id := (Result{Answer: a}).ID(); id != "" && e.Method == "POST" && awaited {
				_ = r.Spool.Created(e.Key, id)
			}
			_ = r.Spool.Done(e)
		}
		if e.After != "" {
			r.Spool.Forget(e.After)
		}
		return Result{Outcome: Delivered, Answer: a}
	case errors.As(err, &refused):
		path, aerr := r.Spool.SetAside(e, refused.Answer)
		if aerr != nil {
			fmt.Fprintf(r.Log, "backupwatch: %s: refused by the API (%s), and could not be kept: %v\n", e.What, refused.Answer.Message(), aerr)
		} else {
			fmt.Fprintf(r.Log, "backupwatch: %s: refused by the API (%s); kept aside in %s, not retried\n", e.What, refused.Answer.Message(), path)
		}
		return Result{Outcome: SetAside, Answer: refused.Answer, Err: err}
	case ctx.Err() == nil && !IsTransient(err):
		// Nothing the API said: a report we cannot even send (its create
		// was set aside, its slug is unknown). Keep it aside, with why.
		a := Answer{Body: mustJSON(map[string]any{"error": map[string]string{"code": "not_sent", "message": err.Error()}})}
		path, _ := r.Spool.SetAside(e, a)
		fmt.Fprintf(r.Log, "backupwatch: %s: %v; kept aside in %s\n", e.What, err, path)
		return Result{Outcome: SetAside, Answer: a, Err: err}
	default:
		if !fromSpool {
			e.LastError = err.Error()
			if aerr := r.Spool.Append(e); aerr != nil {
				return r.lost(e, err, aerr)
			}
		}
		return Result{Outcome: Queued, Err: err}
	}
}

// attempt resolves what e still needs (its path, tenant slugs) and sends it.
func (r *Reporter) attempt(ctx context.Context, e *Entry) (Answer, error) {
	path := e.Path
	if path == "" {
		id := ""
		if a, ok := r.delivered[e.After]; ok {
			id = (Result{Answer: a}).ID()
		} else {
			id = r.Spool.CreatedID(e.After)
		}
		if id == "" {
			return Answer{}, fmt.Errorf("the report it updates (%s) was never delivered", e.After)
		}
		path = e.Resource + "/" + id
	}
	body, err := r.resolveSlugs(ctx, e)
	if err != nil {
		return Answer{}, err
	}
	a, err := r.Client.Do(ctx, e.Method, path, body, requestKey(e.Key, e.Method, path, body))
	var refused *RefusedError
	if errors.As(err, &refused) && e.Method == "POST" && e.Path == "/v1/backups" && refused.Answer.Code() == "conflict" {
		// Its backup_job_id exists: see settle.
		if b, ok := r.existing(ctx, body); ok {
			return r.settle(ctx, e, body, b)
		}
	}
	return a, err
}

// settle answers a create whose backup_job_id exists already (have):
//   - a start (IN_PROGRESS), or an outcome the backup has already (the
//     same report delivered before, its key expired since; a segment
//     archived again): the backup that exists is the answer;
//   - an outcome of a backup still IN_PROGRESS (its start was delivered
//     late, from aside/ by flush --retry-aside, after the outcome had been
//     sent whole): the backup is brought to it with a PATCH, so that the
//     catalogue ends where the job ended;
//   - another outcome of a finished backup: refused, saying which.
func (r *Reporter) settle(ctx context.Context, e *Entry, body []byte, have Answer) (Answer, error) {
	var want map[string]json.RawMessage
	if err := json.Unmarshal(body, &want); err != nil {
		return Answer{}, err
	}
	var status string
	_ = json.Unmarshal(want["status"], &status)
	var got struct{ ID, Status string }
	_ = json.Unmarshal(have.Body, &got)
	switch {
	case status == "" || status == "IN_PROGRESS" || status == got.Status || (status == "COMPLETED" && got.Status == "VERIFIED"):
		return have, nil
	case got.Status == "IN_PROGRESS":
		for _, create := range []string{"backup_type", "filename", "backup_job_id", "tenant_id"} {
			delete(want, create)
		}
		patch := mustJSON(want)
		path := "/v1/backups/" + got.ID
		return r.Client.Do(ctx, "PATCH", path, patch, requestKey(e.Key, "PATCH", path, patch))
	}
	var job string
	_ = json.Unmarshal(want["backup_job_id"], &job)
	msg := fmt.Sprintf("backup_job_id %s is backup %s, which is %s already: a %s outcome cannot be recorded for it", job, got.ID, got.Status, status)
	return Answer{}, &RefusedError{Answer: Answer{Status: 409, Body: mustJSON(map[string]any{"error": map[string]string{"code": "conflict", "message": msg}})}}
}

// requestKey is the Idempotency-Key of a report: its key and a hash of
// the request. Retries of one report send the same request, so they are
// replayed; another request under the same report key (a segment archived
// again after a crash, with another duration; a `run --job-id` rerun)
// is not mistaken for a replay and refused 422 idempotency_key_reused,
// but taken as what it is: a create of a backup_job_id that exists (the
// conflict answer above) or an update the API applies or refuses itself.
func requestKey(key, method, path string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", method, path)
	h.Write(body)
	return key + "-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// existing finds the backup that a create with body already made, by its
// backup_job_id, type and filename.
func (r *Reporter) existing(ctx context.Context, body []byte) (Answer, bool) {
	var want struct {
		Type     string `json:"backup_type"`
		Filename string `json:"filename"`
		JobID    string `json:"backup_job_id"`
		TenantID string `json:"tenant_id"`
	}
	if json.Unmarshal(body, &want) != nil || want.JobID == "" {
		return Answer{}, false
	}
	q := url.Values{"backup_job_id": {want.JobID}, "backup_type": {want.Type}}
	if want.TenantID != "" {
		q.Set("tenant_id", want.TenantID)
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := r.Client.JSON(ctx, "GET", "/v1/backups?"+q.Encode(), nil, &page); err != nil {
		return Answer{}, false
	}
	for _, it := range page.Items {
		var b struct {
			Filename string `json:"filename"`
		}
		if json.Unmarshal(it, &b) == nil && b.Filename == want.Filename {
			return Answer{Status: 200, Body: it}, true
		}
	}
	return Answer{}, false
}

// reports is "1 earlier report is", "2 earlier reports are".
func reports(n int) string {
	if n == 1 {
		return "1 earlier report is"
	}
	return fmt.Sprintf("%d earlier reports are", n)
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
