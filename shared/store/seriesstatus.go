package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// StatusRanks are the ranks of a series' state in GET /v1/status' order,
// worst first, as StatusPage computes them from a stored series state and
// the policies (shared/check: SeriesState and StateRank, which they
// mirror): its newest finished backup failed; it has no completed backup;
// its newest completed one is older than its effective policy's interval
// plus grace; else fine.
const (
	RankFailing = iota
	RankNoData
	RankLate
	RankOK
)

// StatusQuery is a page of the stored series states in status order.
type StatusQuery struct {
	Now time.Time
	// After, if AfterKey is not empty, starts the page after (AfterRank,
	// AfterKey).
	AfterRank int
	AfterKey  string
	// Type and Ranks filter (zero: no filter).
	Type  backup.Type
	Ranks []int
	// Except are series left out (those the caller reads afresh).
	Except []string
	// Limit is how many at most (0: all).
	Limit int
}

// StatusPage returns a page of the stored series states in scope (as
// SeriesStates does) in status order, by (rank, series key), in one
// statement: ranks are computed from the stored columns,
// the effective policy and q.Now, so a page costs a scan of the narrow
// state columns and a top-N sort, not a judgement of every series.
func StatusPage(ctx context.Context, db DB, q StatusQuery) ([]backup.History, error) {
	var (
		where = []string{`s.series_key <> ALL(coalesce($2::text[], '{}'))`}
		args  = []any{q.Now, q.Except}
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.AfterKey != "" {
		where = append(where, fmt.Sprintf(`(r.rank, s.series_key COLLATE "C") > (%s::int, %s::text COLLATE "C")`, arg(q.AfterRank), arg(q.AfterKey)))
	}
	if q.Type != "" {
		where = append(where, `s.backup_type = `+arg(string(q.Type)))
	}
	if len(q.Ranks) > 0 {
		where = append(where, `r.rank = ANY(`+arg(q.Ranks)+`::int[])`)
	}
	limit := ""
	if q.Limit > 0 {
		limit = ` LIMIT ` + arg(q.Limit)
	}
	rows, err := db.Query(ctx, `SELECT `+stateColumns+`
		FROM backup_series_state s
		LEFT JOIN tenants t ON t.id = s.tenant_id
		LEFT JOIN backup_policies o ON o.backup_type = s.backup_type AND o.tenant_id = s.tenant_id
		LEFT JOIN backup_policies d ON d.backup_type = s.backup_type AND d.tenant_id IS NULL
		CROSS JOIN LATERAL (SELECT CASE
			WHEN s.last_finished = 'FAILED' THEN `+strconv.Itoa(RankFailing)+`
			WHEN s.newest_id IS NULL THEN `+strconv.Itoa(RankNoData)+`
			WHEN $1 > s.newest_created_at + coalesce(o.expected_interval_seconds + o.grace_seconds,
				d.expected_interval_seconds + d.grace_seconds) * interval '1 second' THEN `+strconv.Itoa(RankLate)+`
			ELSE `+strconv.Itoa(RankOK)+` END AS rank) r
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY r.rank, s.series_key COLLATE "C"`+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("reading a status page: %w", mapErr(err))
	}
	return scanStates(rows)
}
