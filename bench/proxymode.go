package bench

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/backupwatch/backupwatch/shared/store"
)

// runProxyMode measures what the Lambda functions' query mode costs: the
// service's ingest statements (ServiceStatements) on serve's pool, which
// keeps named prepared statements (pgx's default), beside the same on the
// pool the functions open for RDS Proxy (store.OpenForProxy: unnamed
// statements with cached descriptions, which the proxy does not pin). Runs
// alternate between the two so that the machine's noise falls on both.
func runProxyMode(ctx context.Context, o Options, r *Report, env *Env, plan *Plan, keyHash []byte, logf func(string, ...any)) error {
	quiet := slog.New(slog.DiscardHandler)
	serve, err := store.Open(ctx, env.AppURL, int32(o.PoolSize), quiet)
	if err != nil {
		return err
	}
	defer serve.Close()
	proxy, err := store.OpenForProxy(ctx, env.AppURL, store.Credentials{}, int32(o.PoolSize), quiet)
	if err != nil {
		return err
	}
	defer proxy.Close()
	sec := Section{Title: "Through RDS Proxy: the Lambda functions' query mode",
		Intro: fmt.Sprintf("The service's ingest statements (as in the ingest section's \"SQL only\" column: the key read once, then each report one batch) "+
			"on serve's pool (pgx's default: named prepared statements, cached) and on the pool the Lambda functions open for RDS Proxy "+
			"(`store.OpenForProxy`: unnamed statements with cached descriptions, which do not pin a proxy connection). Same database, same pool size (%d), "+
			"runs alternating; median of %d runs. No proxy runs here: the figure is what the query mode costs PostgreSQL and pgx, not the proxy's own hop.", o.PoolSize, o.Runs),
		Header: []string{"concurrency", "requests/run", "serve's mode req/s", "p50", "proxy mode req/s", "p50", "proxy/serve"}}
	for _, conc := range []int{1, 16} {
		n := o.IngestN1
		if conc > 1 {
			n = o.IngestN16
		}
		var serveRate, proxyRate, serveP50, proxyP50 []float64
		for run := range o.Runs {
			s, err := RunLoad(ctx, n, conc, ServiceStatements(serve, Reports(n, plan.Tenants, fmt.Sprintf("pm-s%d-%d", conc, run)), keyHash))
			if err != nil {
				return err
			}
			p, err := RunLoad(ctx, n, conc, ServiceStatements(proxy, Reports(n, plan.Tenants, fmt.Sprintf("pm-p%d-%d", conc, run)), keyHash))
			if err != nil {
				return err
			}
			serveRate, proxyRate = append(serveRate, s.PerSecond()), append(proxyRate, p.PerSecond())
			serveP50, proxyP50 = append(serveP50, ms(Percentile(s.Latencies, 50))), append(proxyP50, ms(Percentile(p.Latencies, 50)))
			logf("query mode c%d run %d: serve's %.0f req/s, proxy's %.0f req/s", conc, run+1, s.PerSecond(), p.PerSecond())
		}
		ratio := Median(proxyRate) / Median(serveRate)
		sec.Rows = append(sec.Rows, []string{fmt.Sprint(conc), fmt.Sprint(n), fmt.Sprintf("%.0f", Median(serveRate)), fmtMS(Median(serveP50)),
			fmt.Sprintf("%.0f", Median(proxyRate)), fmtMS(Median(proxyP50)), fmt.Sprintf("%.0f %%", 100*ratio)})
		r.Summary = append(r.Summary, Row{Figure: fmt.Sprintf("ingest statements in the Lambda functions' query mode, concurrency %d (req/s)", conc),
			Value: fmt.Sprintf("%.0f/s", Median(proxyRate)), Baseline: fmt.Sprintf("%.0f/s in serve's mode", Median(serveRate)),
			Ratio: fmt.Sprintf("%.0f %%", 100*ratio)})
	}
	r.Sections = append(r.Sections, sec)
	return nil
}
