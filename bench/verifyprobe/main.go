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
		"matched": sum.Matched, "copies_read": sum.CopiesRead})
}
