package check_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/store"
)

// walSegment is a completed WAL_ARCHIVE backup of segment n of timeline tli
// of cluster c ("" for none), 16 MiB segments, archived at.
func walSegment(c string, tli uint32, n int64, at time.Time) backup.Backup {
	name := backup.SegmentName(tli, n, backup.DefaultSegmentSize)
	b := done(backup.Series{Type: backup.WALArchive}, name, 16<<20, at, 1)
	md := map[string]any{"segment": name}
	if c != "" {
		md["cluster"] = c
	}
	b.Metadata, _ = json.Marshal(md)
	return b
}

// TestWALStateIncremental: the WAL states that runs build by merging what
// was archived since the previous run equal those rebuilt from every
// segment, whatever the order segments arrive in, over two clusters and a
// timeline switch; and the run raises and resolves WAL_GAP as they change.
func TestWALStateIncremental(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: 1000 * time.Hour})
	rng := rand.New(rand.NewPCG(1, 2))
	at := t0
	var pending []backup.Backup
	for n := int64(1); n <= 600; n++ { // across two 16 MiB log files
		tli := uint32(1)
		if n >= 300 {
			tli = 2
		}
		pending = append(pending, walSegment("", tli, n, at), walSegment("replica", 1, n, at))
		if n == 300 { // the old timeline's last segment, archived too
			pending = append(pending, walSegment("", 1, n, at.Add(time.Second)))
		}
		if rng.IntN(20) == 0 { // archived twice
			pending = append(pending, walSegment("replica", 1, n, at.Add(time.Minute)))
		}
		at = at.Add(30 * time.Second)
	}
	rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	holdBack := pending[:3] // three segments archived last
	pending = pending[3:]
	for len(pending) > 0 {
		k := min(len(pending), 1+rng.IntN(150))
		e.insert(t, pending[:k]...)
		pending = pending[k:]
		e.run(t, at.Add(time.Hour))
		same(t, e)
	}
	gaps := 0
	for _, a := range e.open(t) {
		if a.Type == alert.WALGap {
			gaps++
		}
	}
	if gaps == 0 {
		t.Fatalf("no WAL_GAP with three segments held back")
	}
	e.insert(t, holdBack...)
	e.run(t, at.Add(2*time.Hour))
	same(t, e)
	for fp, a := range e.open(t) {
		if a.Type == alert.WALGap || a.Type == alert.PITRWindow {
			t.Errorf("still open once every segment is archived: %s", fp)
		}
	}
}

// same fails unless the stored WAL states equal those rebuilt from scratch.
func same(t *testing.T, e *env) {
	t.Helper()
	var stored, rebuilt []rule.WALState
	e.all(t, func(tx pgx.Tx) (err error) {
		if stored, err = store.WALStates(t.Context(), tx); err != nil {
			return err
		}
		rebuilt, err = store.RebuildWALStates(t.Context(), tx)
		return err
	})
	if fmt.Sprint(stored) != fmt.Sprint(rebuilt) {
		t.Fatalf("incremental WAL states\n%v\ndiffer from rebuilt\n%v", stored, rebuilt)
	}
}
