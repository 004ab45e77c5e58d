package httpapi

import (
	"testing"
	"time"
)

// TestLimiterForgetsIdleKeys: a bucket idle long enough to be full again is
// dropped, and made-up keys cannot grow the limiter past maxBuckets.
func TestLimiterForgetsIdleKeys(t *testing.T) {
	l := newLimiter(RateLimit{RPS: 10, Burst: 20}) // full again 2 s after empty
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		l.takeKey(string(rune(i)), now)
	}
	if len(l.buckets) != 1000 {
		t.Fatalf("%d buckets", len(l.buckets))
	}
	l.takeKey("fresh", now.Add(3*time.Second))
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets after the others went idle, want 1", len(l.buckets))
	}
	for i := range maxBuckets + 10 {
		l.takeKey(time.Duration(i).String(), now.Add(3*time.Second))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Errorf("%d buckets, more than %d", n, maxBuckets)
	}
}
