package rule

import (
	"sync"
	"time"
)

// SizeMemo remembers the size rule's readings from one check run to the
// next. A reading depends only on a series' size history, its policy's
// percentage and min_history and its re-baseline, which change only when
// a backup arrives; a run judges every series every five minutes, and the
// reading of two months of history is the costly part of it. A reading is
// reused only when all of that is the same (a checksum of it); readings of
// series a run did not judge are forgotten at its end. Runs take turns
// (Run holds a lock); a nil *SizeMemo remembers nothing.
type SizeMemo struct {
	mu         sync.Mutex
	prev, next map[string]memoEntry
}

type memoEntry struct {
	sum uint64
	r   SizeReading
	ok  bool
}

// NewSizeMemo returns an empty memo.
func NewSizeMemo() *SizeMemo { return &SizeMemo{} }

// Run runs one check run's judging, fn, with the memo: what fn reads is
// what the next run may reuse.
func (m *SizeMemo) Run(fn func()) {
	if m == nil {
		fn()
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next = make(map[string]memoEntry, len(m.prev))
	defer func() { m.prev, m.next = m.next, nil }()
	fn()
}

// read is ReadSize, remembered under series key.
func (m *SizeMemo) read(key string, s []Sample, percent *int64, minHistory int64, from *time.Time) (SizeReading, bool) {
	if m == nil || m.next == nil {
		return ReadSize(s, percent, minHistory, from)
	}
	sum := checksum(s, percent, minHistory, from)
	if e, ok := m.prev[key]; ok && e.sum == sum {
		m.next[key] = e
		return e.r, e.ok
	}
	r, ok := ReadSize(s, percent, minHistory, from)
	m.next[key] = memoEntry{sum, r, ok}
	return r, ok
}

// checksum is FNV-1a over what a size reading depends on.
func checksum(s []Sample, percent *int64, minHistory int64, from *time.Time) uint64 {
	h := uint64(14695981039346656037)
	mix := func(v int64) {
		for i := range 8 {
			h ^= uint64(byte(v >> (8 * i)))
			h *= 1099511628211
		}
	}
	mix(int64(len(s)))
	if len(s) > 0 {
		mix(s[0].At.UnixNano())
	}
	for _, x := range s {
		mix(x.Size)
		mix(int64(s[0].At.Sub(x.At) / time.Second))
	}
	if percent != nil {
		mix(*percent)
	} else {
		mix(-1)
	}
	mix(minHistory)
	if from != nil {
		mix(from.UnixNano())
	} else {
		mix(-1)
	}
	return h
}
