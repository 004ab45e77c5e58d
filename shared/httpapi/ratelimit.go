package httpapi

import (
	"crypto/sha256"
	"math"
	"net/http"
	"sync"
	"time"
)

// RateLimit is the request budget of each API key in one serving process
// (each `serve`, each Lambda instance): a token bucket that refills at RPS
// tokens a second and holds at most Burst. The HTTP API's stage throttling
// bounds the total across instances.
type RateLimit struct {
	RPS   float64
	Burst int
}

// DefaultRateLimit is API.md's budget: 50 requests a second, bursts of 200.
var DefaultRateLimit = RateLimit{RPS: 50, Burst: 200}

// maxBuckets bounds the limiter's memory (about 100 bytes a bucket). Keys
// are counted before they are looked up, so a flood of made-up keys must
// not grow it without end.
const maxBuckets = 100_000

// limiter keeps a token bucket per key hash, in memory.
type limiter struct {
	rate RateLimit
	// idle is how long a bucket takes to refill from empty: a bucket left
	// alone that long is full, the same as none, and can go.
	idle time.Duration

	mu        sync.Mutex
	buckets   map[[32]byte]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

func newLimiter(r RateLimit) *limiter {
	if r.RPS <= 0 || r.Burst <= 0 {
		r = DefaultRateLimit
	}
	idle := time.Duration(float64(r.Burst) / r.RPS * float64(time.Second))
	return &limiter{rate: r, idle: max(idle, time.Second), buckets: map[[32]byte]*bucket{}}
}

// takeKey is take for an API key as the client sent it.
func (l *limiter) takeKey(key string, now time.Time) (ok bool, wait time.Duration) {
	return l.take(sha256.Sum256([]byte(key)), now)
}

// take spends one token of key's bucket at now. Without one, it answers
// how long until the next is due.
func (l *limiter) take(key [32]byte, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(l.rate.Burst), at: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = math.Min(float64(l.rate.Burst), b.tokens+elapsed.Seconds()*l.rate.RPS)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate.RPS * float64(time.Second))
}

// sweep drops the buckets idle long enough to be full again, at most once
// per idle period, or at once when there are too many. If made-up keys
// still fill it, it starts afresh: every key gets its whole burst again,
// which costs less than refusing keys it has never seen.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.idle && len(l.buckets) < maxBuckets {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= l.idle {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// rateLimited is the 429 of a key past its budget; Retry-After is whole
// seconds, at least 1.
func rateLimited(wait time.Duration) *Error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "this API key sent more requests than its budget allows; retry after the time Retry-After gives", RetryAfter: secs}
}
