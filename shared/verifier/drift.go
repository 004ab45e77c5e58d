package verifier

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/bucket"
	"github.com/backupwatch/backupwatch/shared/store"
)

// listTargets lists, once every ListEvery, each readable target's prefix:
// the objects and bytes really stored there, and the objects no backup in
// the catalogue records (orphans: an upload whose report never came, a
// backup deleted from the catalogue but not from the bucket). Orphans are
// counted and listed, never deleted. A listing that fails is recorded on
// the target and tried again by the next run.
func (v *Verifier) listTargets(ctx context.Context, targets []*target, now, deadline time.Time, sum *Summary) {
	var last map[backup.Location]store.Listing
	err := store.InScope(ctx, v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
		last, err = store.Listings(ctx, tx)
		return err
	})
	if err != nil {
		sum.Errors = append(sum.Errors, "listing targets: "+err.Error())
		return
	}
	for _, t := range targets {
		if t.broken != nil {
			continue
		}
		if l := last[t.name]; l.ListedAt != nil && now.Sub(*l.ListedAt) < v.cfg.ListEvery {
			continue
		}
		if time.Until(deadline) < finishReserve {
			return
		}
		l, err := v.list(ctx, t, now)
		if err == nil {
			err = store.InScope(ctx, v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) error { return store.RecordListing(ctx, tx, l) })
			if err == nil {
				sum.Listed = append(sum.Listed, t.name)
				continue
			}
		}
		v.broke(t, err, sum)
		why := err.Error()
		_ = store.InScope(context.WithoutCancel(ctx), v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) error {
			return store.RecordListingError(ctx, tx, t.name, why)
		})
	}
}

// list lists t's prefix against the paths the catalogue records there.
func (v *Verifier) list(ctx context.Context, t *target, now time.Time) (store.Listing, error) {
	var known map[string]bool
	err := store.InScope(ctx, v.cfg.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
		known, err = store.CataloguePaths(ctx, tx, t.name)
		return err
	})
	if err != nil {
		return store.Listing{}, err
	}
	at := now
	l := store.Listing{Target: t.name, ListedAt: &at, Orphans: []string{}}
	err = t.store.List(ctx, t.loc.Prefix, func(o bucket.Object) error {
		l.Objects++
		l.Bytes += o.Size
		if !known[t.loc.Path(t.name, o.Key)] {
			l.OrphanCount++
			l.OrphanBytes += o.Size
			if len(l.Orphans) < store.MaxListedOrphans {
				l.Orphans = append(l.Orphans, o.Key)
			}
		}
		return nil
	})
	return l, err
}
