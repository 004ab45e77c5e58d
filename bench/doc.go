// Package bench measures backupwatch the way issue 7 asks: a generator that
// fills a database with a realistic backup history (a million backups over
// ten thousand series in well under a minute, with generate_series), and the
// measurements that `make bench` runs against it, each next to a baseline
// measured in the same run:
//
//   - ingest: POST /v1/backups over HTTP to the real `backupwatch serve`,
//     against single-row INSERTs straight into PostgreSQL;
//   - check run: the scheduled check over the whole history, against the
//     same rules evaluated series by series;
//   - lists: GET /v1/backups first pages against pages deep in the cursor,
//     with and without filters, with each plan's index;
//   - cold start: the functions' bootstrap sizes and their init time under
//     aws-lambda-rie;
//   - memory: the peak RSS of `serve` during the ingest run.
//
// Nothing here runs under `go test ./...` but small-scale tests that the
// generator writes what it promises and that every baseline computes the
// same answers as the service, so a fast wrong answer cannot pass.
// The driver is bench/cmd/bwbench; its figures go to bench/REPORT.md.
package bench
