// Command bwbench is `make bench`: it starts its own PostgreSQL, generates a
// million-backup history, measures ingest, the check run, lists, cold start
// and memory against their baselines, prints the report and writes it as
// Markdown (bench/REPORT.md by default).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/backupwatch/backupwatch/bench"
)

func main() {
	var (
		out     = flag.String("out", "bench/REPORT.md", "where to write the Markdown report (relative to the module root)")
		backups = flag.Int("backups", 1_000_000, "backups to generate")
		series  = flag.Int("series", 10_000, "backup series to generate")
		days    = flag.Int("days", 365, "length of the history in days")
		wal     = flag.Int("wal-segments", bench.WALYear, "segments of the WAL series beside the backups (a year at two a minute; 0: none)")
		runs    = flag.Int("runs", 5, "runs of each ingest and check figure")
		lruns   = flag.Int("list-runs", 21, "timed requests per list page")
		cruns   = flag.Int("cold-runs", 10, "cold starts per function")
		n1      = flag.Int("ingest-c1", 1000, "requests per ingest run at concurrency 1")
		n16     = flag.Int("ingest-c16", 4000, "requests per ingest run at concurrency 16")
		pool    = flag.Int("pool", 16, "connection pool of serve and of the baseline")
		hold    = flag.Bool("hold", false, "generate the history, log the database's URLs and keep it up until interrupted (runs nothing)")
		only    = flag.String("only", "", "run one section alone: lists, check (or checkrun), ingest or console (after generating the history), or coldstart, jobs or verify (no history)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *out, bench.Options{
		Spec: bench.Spec{Backups: *backups, Series: *series, Days: *days, Now: time.Now(), Seed: 7, WALSegments: *wal},
		Runs: *runs, ListRuns: *lruns, ColdRuns: *cruns, IngestN1: *n1, IngestN16: *n16, PoolSize: *pool, Only: *only, Hold: *hold,
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) },
	}); err != nil {
		fmt.Fprintln(os.Stderr, "bwbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string, o bench.Options) error {
	root, err := bench.ModuleRoot()
	if err != nil {
		return err
	}
	o.Root = root
	r, err := bench.Run(ctx, o)
	if err != nil || o.Hold {
		return err
	}
	md := r.Markdown()
	fmt.Print(md)
	if out, err = bench.WriteReport(o.Root, out, md); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: report written to %s\n", out)
	return nil
}
