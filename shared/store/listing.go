package store

import (
	"context"
	"fmt"
	"time"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// Listing is what the verifier's listing of a target's prefix found
// (drift): the objects and bytes really stored, and the objects the
// catalogue does not know.
type Listing struct {
	Target      backup.Location `json:"-"`
	ListedAt    *time.Time      `json:"listed_at"`
	Objects     int64           `json:"objects"`
	Bytes       int64           `json:"real_bytes"`
	OrphanCount int64           `json:"orphans"`
	OrphanBytes int64           `json:"orphan_bytes"`
	// Orphans are the first MaxListedOrphans orphans' keys.
	Orphans []string `json:"orphan_keys"`
	// Error is why the last listing failed ("" when it did not): the
	// figures are then the last good listing's.
	Error string `json:"list_error,omitempty"`
	// Copies are the verifier's last count of the copies there (nil:
	// not counted yet).
	Copies *CopyStats `json:"-"`
}

// MaxListedOrphans bounds the orphan keys a listing keeps.
const MaxListedOrphans = 100

// RecordListing stores a target's listing.
func RecordListing(ctx context.Context, db DB, l Listing) error {
	if l.Orphans == nil {
		l.Orphans = []string{}
	}
	_, err := db.Exec(ctx, `UPDATE storage_targets SET listed_at = $2, listed_objects = $3, listed_bytes = $4,
			orphan_count = $5, orphan_bytes = $6, orphans = $7, list_error = NULL WHERE name = $1`,
		l.Target, l.ListedAt, l.Objects, l.Bytes, l.OrphanCount, l.OrphanBytes, l.Orphans)
	if err != nil {
		return fmt.Errorf("recording the listing of %s: %w", l.Target, mapErr(err))
	}
	return nil
}

// RecordListingError stores why a target's listing failed, keeping the
// last good listing's figures and time (so the next run lists again).
func RecordListingError(ctx context.Context, db DB, target backup.Location, why string) error {
	_, err := db.Exec(ctx, `UPDATE storage_targets SET list_error = $2 WHERE name = $1`, target, why)
	if err != nil {
		return fmt.Errorf("recording the listing of %s: %w", target, mapErr(err))
	}
	return nil
}

// Listings returns every target's last listing, by target.
func Listings(ctx context.Context, db DB) (map[backup.Location]Listing, error) {
	rows, err := db.Query(ctx, `SELECT name, listed_at, coalesce(listed_objects, 0), coalesce(listed_bytes, 0),
		coalesce(orphan_count, 0), coalesce(orphan_bytes, 0), orphans, coalesce(list_error, ''),
		copies_counted_at, coalesce(copies, 0), coalesce(copies_verified_within, 0), coalesce(max_unverified_seconds, 0),
		oldest_unverified, coalesce(copies_mismatched, 0), coalesce(copies_missing, 0)
		FROM storage_targets`)
	if err != nil {
		return nil, fmt.Errorf("reading listings: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[backup.Location]Listing{}
	for rows.Next() {
		var (
			l         Listing
			c         CopyStats
			countedAt *time.Time
		)
		if err := rows.Scan(&l.Target, &l.ListedAt, &l.Objects, &l.Bytes, &l.OrphanCount, &l.OrphanBytes, &l.Orphans, &l.Error,
			&countedAt, &c.Copies, &c.VerifiedWithin, &c.MaxUnverifiedSeconds, &c.OldestUnverified, &c.Mismatched, &c.Missing); err != nil {
			return nil, fmt.Errorf("reading listings: %w", mapErr(err))
		}
		if countedAt != nil {
			c.CountedAt = countedAt.UTC()
			if c.OldestUnverified != nil {
				t := c.OldestUnverified.UTC()
				c.OldestUnverified = &t
			}
			l.Copies = &c
		}
		if l.ListedAt != nil {
			t := l.ListedAt.UTC()
			l.ListedAt = &t
		}
		out[l.Target] = l
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading listings: %w", mapErr(err))
	}
	return out, nil
}
