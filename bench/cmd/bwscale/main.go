// Command bwscale is `make bench-scale`: it measures the service at a
// million backups and at ten million (100,000 series), each in a
// PostgreSQL cluster of its own, one after the other, and writes each
// figure beside the other with its growth (bench/SCALE.md by default).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/backupwatch/backupwatch/bench"
)

func main() {
	var (
		out   = flag.String("out", "bench/SCALE.md", "where to write the Markdown report (relative to the module root)")
		sizes = flag.String("sizes", "1000000:10000,10000000:100000", "backups:series of each size, the reference first")
		days  = flag.Int("days", 365, "length of the history in days")
		runs  = flag.Int("runs", 3, "check reruns, hourly runs and ingest runs per size")
		lruns = flag.Int("list-runs", 11, "timed requests per list page")
		n     = flag.Int("ingest", 4000, "requests per ingest run at concurrency 16")
		pool  = flag.Int("pool", 16, "serve's connection pool")
		slow  = flag.String("slow-log", "", "directory to copy each size's slow statements (auto_explain, over 200 ms) into")
		data  = flag.String("data", "", "directory to keep each size's generated cluster in, and to reuse it from on the next run")
		gen   = flag.Bool("generate-only", false, "generate each size's history (with -data: to measure later) and stop")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench-scale: "+f+"\n", a...) }
	o := bench.ScaleOptions{Runs: *runs, ListRuns: *lruns, IngestN: *n, PoolSize: *pool, SlowLog: *slow,
		DataDir: *data, GenerateOnly: *gen, Logf: logf}
	now := time.Now()
	for _, s := range strings.Split(*sizes, ",") {
		b, sr, ok := strings.Cut(s, ":")
		nb, err1 := strconv.Atoi(b)
		ns, err2 := strconv.Atoi(sr)
		if !ok || err1 != nil || err2 != nil {
			fmt.Fprintf(os.Stderr, "bwscale: -sizes %q: want backups:series pairs, e.g. 1000000:10000\n", s)
			os.Exit(2)
		}
		o.Sizes = append(o.Sizes, bench.Spec{Backups: nb, Series: ns, Days: *days, Now: now, Seed: 7})
	}
	if err := run(ctx, *out, o); err != nil {
		fmt.Fprintln(os.Stderr, "bwscale:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string, o bench.ScaleOptions) error {
	root, err := bench.ModuleRoot()
	if err != nil {
		return err
	}
	o.Root = root
	started := time.Now()
	fs, err := bench.RunScale(ctx, o)
	if err != nil {
		return err
	}
	if o.GenerateOnly {
		for _, f := range fs {
			if len(f.Failed) > 0 {
				return fmt.Errorf("generating %d backups: %s", f.Spec.Backups, strings.Join(f.Failed, "; "))
			}
		}
		return nil
	}
	md := bench.ScaleMarkdown(started, time.Since(started), fs)
	fmt.Print(md)
	if out, err = bench.WriteReport(o.Root, out, md); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench-scale: report written to %s\n", out)
	return nil
}
