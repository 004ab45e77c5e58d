// Command verifyprobe is the bench's copy verification run in a process of
// its own, so that its peak memory can be read apart from the bench's: one
// verifier run against DATABASE_URL (whose r2 target points at the
// bench's versitygw, with BACKUPWATCH_S3_R2_* set), printed as JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/backupwatch/backupwatch/shared/objstore"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/verifier"
)

func main() {
	ctx := context.Background()
	pool, err := store.Open(ctx, os.Getenv("DATABASE_URL"), 2, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer pool.Close()
	v := verifier.New(verifier.Config{Pool: pool, Open: objstore.OpenReader})
	start := time.Now()
	sum, err := v.Run(ctx, verifier.Timer, time.Now(), verifier.Options{MaxBytes: 1 << 40})
	took := time.Since(start)
	if err != nil || len(sum.Errors) > 0 {
		fmt.Fprintln(os.Stderr, err, sum.Errors)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"seconds": took.Seconds(), "bytes_read": sum.BytesRead,
		"matched": sum.Matched, "copies_read": sum.CopiesRead, "peak_rss_bytes": peakRSS()})
}

// peakRSS is this process's own peak resident set (VmHWM), 0 if unknown.
// The parent's rusage of a child is not usable for it: a child started by
// fork counts the parent's resident set at the fork, so a bench that had
// generated a million-row history reported its own size as the probe's.
func peakRSS() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
