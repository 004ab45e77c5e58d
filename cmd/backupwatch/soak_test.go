//go:build soak

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak (make soak): mixed traffic at concurrency 16 against the real
// serve binary for SOAK_DURATION (default 10m), a check run every 10 s, and
// PostgreSQL restarted once in the middle. It wants no 5xx outside the
// restart window, every write the clients saw succeed present exactly once,
// and the server's RSS after warm-up growing by less than 10 %.
func TestSoak(t *testing.T) {
	dur := 10 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	c, app, owner := ownCluster(t)
	s := startServer(t, app, owner)
	st, _, b, _ := s.do("POST", "/v1/tenants", map[string]any{"name": "Acme", "slug": "acme"})
	if st != 201 {
		t.Fatalf("tenant: %d %s", st, b)
	}
	var tenant map[string]any
	_ = json.Unmarshal(b, &tenant)
	tenantID := tenant["id"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var (
		windowMu      sync.Mutex
		windowStart   time.Time
		windowEnd     time.Time
		requests      atomic.Int64
		fiveXX        atomic.Int64
		fiveXXInRange atomic.Int64
		created       sync.Map // filename -> id, as the clients saw it
	)
	inWindow := func(at time.Time) bool {
		windowMu.Lock()
		defer windowMu.Unlock()
		return !windowStart.IsZero() && at.After(windowStart) && (windowEnd.IsZero() || at.Before(windowEnd.Add(5*time.Second)))
	}
	record := func(st int, at time.Time) {
		requests.Add(1)
		if st >= 500 || st == 0 {
			// A request that started before the restart and ended in it counts as inside.
			if inWindow(at) || inWindow(time.Now()) {
				fiveXXInRange.Add(1)
			} else {
				fiveXX.Add(1)
				t.Logf("%d at %s, outside the restart window", st, at.Format(time.RFC3339Nano))
			}
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ctx.Err() == nil; i++ {
				at := time.Now()
				switch op := r.IntN(10); {
				case op < 4: // report a backup, complete it
					name := fmt.Sprintf("w%d-%d.dump", w, i)
					body := map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": tenantID, "filename": name}
					var id string
					for attempt := 0; attempt < 200 && id == ""; attempt++ {
						st, _, b, _ := s.do("POST", "/v1/backups", body, "Idempotency-Key", name)
						record(st, at)
						if st == 201 {
							var m map[string]any
							_ = json.Unmarshal(b, &m)
							id = m["id"].(string)
							if prev, loaded := created.LoadOrStore(name, id); loaded && prev != id {
								t.Errorf("%s answered two ids", name)
							}
						} else {
							time.Sleep(50 * time.Millisecond)
							at = time.Now()
						}
					}
					if id == "" {
						continue
					}
					size := 1_000_000 + r.IntN(1000)
					st, _, _, _ := s.do("PATCH", "/v1/backups/"+id, map[string]any{"status": "COMPLETED", "size_bytes": size,
						"checksum": fmt.Sprintf("%064x", size), "local_path": "/var/backups/" + name})
					record(st, time.Now())
				case op < 8:
					q := []string{"/v1/backups?limit=20", "/v1/backups?status=COMPLETED&limit=50", "/v1/backups?q=w1-&limit=10", "/v1/alerts?limit=20", "/v1/status"}[r.IntN(5)]
					st, _, _, _ := s.do("GET", q, nil)
					record(st, at)
				default:
					st, _, _, _ := s.do("GET", "/v1/health", nil)
					record(st, at)
				}
			}
		}(w)
	}
	// Check runs every 10 s.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				st, _, _, _ := s.do("POST", "/v1/checks/run", nil)
				record(st, time.Now())
			}
		}
	}()
	// RSS samples, and one PostgreSQL restart half-way.
	var rss []int
	pid := s.cmd.Process.Pid
	sample := time.NewTicker(dur / 20)
	defer sample.Stop()
	restarted := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-sample.C:
			rss = append(rss, vmRSS(pid))
			if !restarted && len(rss) >= 10 {
				restarted = true
				windowMu.Lock()
				windowStart = time.Now()
				windowMu.Unlock()
				if err := c.Restart(context.Background()); err != nil {
					t.Errorf("restarting postgres: %v", err)
				}
				windowMu.Lock()
				windowEnd = time.Now()
				windowMu.Unlock()
			}
		}
	}
	wg.Wait()

	// Reconcile: every backup a client saw created exists once, and no other.
	want := 0
	created.Range(func(_, _ any) bool { want++; return true })
	got := map[string]int{}
	cursor := ""
	for {
		path := "/v1/backups?limit=500"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		st, _, b, _ := s.do("GET", path, nil)
		if st != 200 {
			t.Fatalf("listing: %d", st)
		}
		var page struct {
			Items []struct {
				ID, Filename string
			} `json:"items"`
			Next *string `json:"next_cursor"`
		}
		_ = json.Unmarshal(b, &page)
		for _, it := range page.Items {
			got[it.Filename]++
			if id, ok := created.Load(it.Filename); !ok || id != it.ID {
				t.Errorf("backup %s (%s) is not the one the client was told", it.Filename, it.ID)
			}
		}
		if page.Next == nil {
			break
		}
		cursor = *page.Next
	}
	dups := 0
	for _, n := range got {
		if n > 1 {
			dups++
		}
	}
	warm := rss[len(rss)/5]
	last := rss[len(rss)-1]
	growth := float64(last-warm) / float64(warm) * 100
	t.Logf("soak %s: %d requests, %d 5xx outside the restart window, %d inside; %d backups written, %d stored, %d duplicated; RSS %d kB after warm-up, %d kB at the end (%+.1f %%); samples %v",
		dur, requests.Load(), fiveXX.Load(), fiveXXInRange.Load(), want, len(got), dups, warm, last, growth, rss)
	if fiveXX.Load() != 0 {
		t.Errorf("%d 5xx outside the restart window", fiveXX.Load())
	}
	if len(got) != want || dups != 0 {
		t.Errorf("clients saw %d backups created; the catalogue holds %d (%d duplicated)", want, len(got), dups)
	}
	if growth >= 10 {
		t.Errorf("RSS grew %.1f %% after warm-up", growth)
	}
}

func vmRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}
