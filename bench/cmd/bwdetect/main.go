// Command bwdetect measures the size rule against a generated corpus of
// tenant histories replayed through the real check run on its own
// PostgreSQL, and writes bench/DETECTION.md (`make detection`). It exits 1
// when the targets (every fault found, at most 1 false alert per 1,000
// clean series-days) are not met.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/bench"
	"github.com/backupwatch/backupwatch/bench/detect"
)

func main() {
	spec := detect.DefaultSpec()
	out := flag.String("out", "bench/DETECTION.md", "where to write the report")
	flag.IntVar(&spec.Series, "series", spec.Series, "series in the corpus (issue 21: at least 200)")
	flag.IntVar(&spec.Days, "days", spec.Days, "days of history")
	flag.Uint64Var(&spec.Seed, "seed", spec.Seed, "the corpus' seed")
	flag.Parse()
	if err := run(spec, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bwdetect:", err)
		os.Exit(1)
	}
}

func run(spec detect.Spec, out string) error {
	ctx := context.Background()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	env, err := bench.StartEnv(ctx, "detection", logf)
	if err != nil {
		return err
	}
	defer env.Stop() //nolint:errcheck // a throwaway cluster
	owner, err := pgx.Connect(ctx, env.OwnerURL)
	if err != nil {
		return err
	}
	defer owner.Close(ctx) //nolint:errcheck
	app, err := pgxpool.New(ctx, env.AppURL)
	if err != nil {
		return err
	}
	defer app.Close()

	c := detect.Generate(spec)
	before := detect.ReplayLegacy(c)
	start := time.Now()
	after, err := detect.Replay(ctx, c, owner, app)
	if err != nil {
		return err
	}
	took := time.Since(start)
	f, err := os.Create(filepath.Clean(out))
	if err != nil {
		return err
	}
	if err := detect.Report(f, c, spec, before, after, took); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	found, total := after.All.Recall()
	fmt.Printf("wrote %s: recall %d/%d, %.2f false alerts per 1,000 clean series-days (before: %.2f)\n",
		out, found, total, after.All.FalsePer1000(), before.All.FalsePer1000())
	if !detect.Met(after) {
		return fmt.Errorf("the targets are not met (see %s)", out)
	}
	return nil
}
