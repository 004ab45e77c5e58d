package alert_test

import (
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// TestRetryPolicy: the backoff doubles from 1 min and stops at 1 h; the
// attempt that reaches MaxAttempts gives up.
func TestRetryPolicy(t *testing.T) {
	p := alert.DefaultRetry
	now := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		attempts int
		wait     time.Duration
		giveUp   bool
	}{
		{1, time.Minute, false},      // first failure: try again in a minute
		{2, 2 * time.Minute, false},  // then double
		{6, 32 * time.Minute, false}, // still doubling
		{7, time.Hour, false},        // 64 min capped to the hour
		{9, time.Hour, false},        // stays capped
		{10, 0, true},                // the tenth failure is the last
		{11, 0, true},                // past the max (the max was lowered): give up too
	} {
		next, giveUp := p.AfterFailure(tc.attempts, now)
		if giveUp != tc.giveUp || (!giveUp && next.Sub(now) != tc.wait) {
			t.Errorf("after %d failed attempts: next in %v, give up %v; want %v, %v", tc.attempts, next.Sub(now), giveUp, tc.wait, tc.giveUp)
		}
	}
	if got := (alert.RetryPolicy{MaxAttempts: 3}).OrDefault(); got != (alert.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Minute, MaxBackoff: time.Hour}) {
		t.Errorf("OrDefault: %+v", got)
	}
}
