package detect

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/check"
)

// Replay writes the corpus day by day into a migrated database and runs
// the real checks (check.Runner.Run, as the scheduled function does) after
// each day's backups, reading back what the run did to each series' size
// alert. owner is a connection of the schema owner (it writes the
// tenants and the backups, as the API would have); app is a pool of the
// runtime role, which the runner works as.
func Replay(ctx context.Context, c *Corpus, owner *pgx.Conn, app *pgxpool.Pool) (*Tally, error) {
	tenants := make([]uuid.UUID, len(c.Series))
	var rows [][]any
	for i, s := range c.Series {
		tenants[i] = uuid.New()
		rows = append(rows, []any{tenants[i], "Tenant " + s.Name, s.Name, c.Start.Add(-24 * time.Hour)})
	}
	if _, err := owner.CopyFrom(ctx, pgx.Identifier{"tenants"}, []string{"id", "name", "slug", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("writing the corpus' tenants: %w", err)
	}
	p := Policy()
	if _, err := owner.Exec(ctx, `UPDATE backup_policies SET expected_interval_seconds = $1, grace_seconds = $2,
		size_deviation_percent = $3, min_history = $4 WHERE backup_type = 'TENANT_BACKUP' AND tenant_id IS NULL`,
		p.ExpectedIntervalSeconds, p.GraceSeconds, *p.SizeDeviationPercent, p.MinHistory); err != nil {
		return nil, fmt.Errorf("setting the tenant backups' policy: %w", err)
	}
	// A day's runs read what changed; every series changes every day, so
	// each run recomputes them all from the catalogue and reads back the
	// stored states (re-baselines included), as the five-minute runs do.
	runner := check.New(check.Config{Pool: app, FullEvery: 365 * 24 * time.Hour})
	bySeries := make(map[string]int, len(c.Series))
	for i := range c.Series {
		bySeries[alert.Fingerprint(alert.SizeDeviation, "TENANT_BACKUP:"+tenants[i].String())] = i
	}
	type open struct {
		id  uuid.UUID
		sev alert.Severity
	}
	was := make([]open, len(c.Series))
	t := NewTally()
	for d := range c.Days {
		ids := make([]uuid.UUID, len(c.Series))
		var (
			names, sums []string
			sizes       []int64
			ats         []time.Time
		)
		for i, s := range c.Series {
			ids[i] = uuid.New()
			name := fmt.Sprintf("%s-%s.tar.zst", s.Name, c.At(i, d).Format("2006-01-02"))
			names, sums = append(names, name), append(sums, fmt.Sprintf("%064x", i*1000+d))
			sizes, ats = append(sizes, s.Sizes[d]), append(ats, c.At(i, d))
		}
		if _, err := owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum,
				r2_path, status, created_at, updated_at, backup_duration_seconds)
			SELECT id, 'TENANT_BACKUP', tenant, name, size, sum, 'r2://corpus/' || name, 'COMPLETED', at, at + interval '5 minutes', 300
			FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[]) AS u(id, tenant, name, size, sum, at)`,
			ids, tenants, names, sizes, sums, ats); err != nil {
			return nil, fmt.Errorf("writing day %d: %w", d, err)
		}
		now := c.Start.AddDate(0, 0, d).Add(4 * time.Hour)
		sum, err := runner.Run(ctx, check.Command, now)
		if err != nil {
			return nil, fmt.Errorf("check run of day %d: %w", d, err)
		}
		if len(sum.NotJudged) > 0 {
			return nil, fmt.Errorf("check run of day %d could not judge %v: %v", d, sum.NotJudged, sum.Errors)
		}
		got := make([]Day, len(c.Series))
		msgs := make([]string, len(c.Series))
		now = now.UTC().Truncate(time.Microsecond)
		alerts, err := owner.Query(ctx, `SELECT fingerprint, id, status, severity, backup_id, message, resolution_notes
			FROM backups_alert WHERE alert_type = 'SIZE_DEVIATION' AND (status <> 'RESOLVED' OR resolved_at = $1)`, now)
		if err != nil {
			return nil, fmt.Errorf("reading day %d's alerts: %w", d, err)
		}
		now0 := make([]open, len(c.Series))
		for alerts.Next() {
			var (
				fp, status, sev, msg, notes string
				id                          uuid.UUID
				backupID                    *uuid.UUID
			)
			if err := alerts.Scan(&fp, &id, &status, &sev, &backupID, &msg, &notes); err != nil {
				alerts.Close()
				return nil, err
			}
			i, ok := bySeries[fp]
			if !ok {
				continue
			}
			if status == "RESOLVED" {
				got[i].Rebaselined = got[i].Rebaselined || strings.Contains(notes, "re-baselined itself")
				continue
			}
			now0[i] = open{id, alert.Severity(sev)}
			got[i].Severity, got[i].OnNewest, msgs[i] = alert.Severity(sev), backupID != nil && *backupID == ids[i], msg
		}
		alerts.Close()
		if err := alerts.Err(); err != nil {
			return nil, err
		}
		for i, s := range c.Series {
			o := now0[i]
			got[i].Opened = o.sev != "" && o.id != was[i].id
			got[i].Escalated = o.sev != "" && o.id == was[i].id && o.sev.Rank() > was[i].sev.Rank()
			was[i] = o
			t.Observe(c, s, d, got[i], msgs[i])
		}
	}
	return t, nil
}
