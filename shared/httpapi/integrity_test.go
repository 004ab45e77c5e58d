package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// integrityDetails is an INTEGRITY_FAILURE alert's details.
type integrityDetails struct {
	Location string `json:"location"`
	Count    int    `json:"count"`
	Backups  []struct {
		ID       string `json:"id"`
		Filename string `json:"filename"`
		Expected string `json:"expected_checksum"`
		Actual   string `json:"actual_checksum"`
	} `json:"backups"`
}

func detailsOf(t *testing.T, a map[string]any) integrityDetails {
	t.Helper()
	raw, _ := json.Marshal(a["details"])
	var d integrityDetails
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("details %s: %v", raw, err)
	}
	return d
}

// integrityAlerts are the INTEGRITY_FAILURE alerts by fingerprint.
func integrityAlerts(t *testing.T, s *setup) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, a := range alertsOf(t, s, s.operator, "alert_type=INTEGRITY_FAILURE&limit=100") {
		out[a["fingerprint"].(string)] = a
	}
	return out
}

// TestIntegrityAlertStandsForSeriesAndLocation: mismatching verifies of five
// backups of one series at one location open one CRITICAL alert, notified
// once, that lists the five; another location is another alert; matching
// verifies take backups out and the last one resolves it, as the system.
// (Before issue 12 each verify opened an alert and paged of its own.)
func TestIntegrityAlertStandsForSeriesAndLocation(t *testing.T) {
	s := newSetup(t)
	var ids []string
	for i := range 5 {
		b := testenv.Completed("FULL_DATABASE", "", fmt.Sprintf("full-%d.dump", i), 10)
		b["b2_path"] = "b2://backups/" + b["filename"].(string)
		ids = append(ids, s.create(t, s.job, b)["id"].(string))
	}
	verify := func(i int, sum, loc string) map[string]any {
		t.Helper()
		body := map[string]any{"checksum": testenv.Checksum(sum)}
		if loc != "" {
			body["location"] = loc
		}
		return s.Call(t, 200, "POST", "/v1/backups/"+ids[i]+"/verify", s.job, body)
	}
	const r2 = "INTEGRITY_FAILURE:FULL_DATABASE:-:r2"
	var alertID string
	for i := range ids {
		a := verify(i, "bitrot", "r2")["alert"].(map[string]any)
		if alertID == "" {
			alertID = a["id"].(string)
		}
		if a["id"] != alertID || a["fingerprint"] != r2 || a["severity"] != "CRITICAL" || a["backup_id"] != ids[i] {
			t.Fatalf("verify %d: alert %v", i, a)
		}
	}
	verify(2, "bitrot-again", "r2") // a repeat counts the backup once
	all := integrityAlerts(t, s)
	if len(all) != 1 {
		t.Fatalf("%d integrity alerts, want 1: %v", len(all), all)
	}
	a := all[r2]
	d := detailsOf(t, a)
	if d.Count != 5 || len(d.Backups) != 5 || d.Location != "r2" || a["backup_id"] != ids[2] || a["status"] != "ACTIVE" {
		t.Fatalf("alert %v, details %+v", a, d)
	}
	for _, b := range d.Backups {
		if b.Expected != testenv.Checksum(b.Filename) || (b.Actual != testenv.Checksum("bitrot") && b.Actual != testenv.Checksum("bitrot-again")) {
			t.Errorf("listed backup %+v", b)
		}
	}
	if !strings.Contains(a["message"].(string), "5 FULL_DATABASE backups") || !strings.Contains(a["message"].(string), "r2 copy") {
		t.Errorf("message %q", a["message"])
	}
	if n := outboxRows(t, s, alertID); n["opened"] != 3 || len(n) != 1 {
		t.Errorf("outbox %v, want the opening once on email, sms and webhook", n)
	}

	// Another location is another alert; so is a verify that names none
	// (its stand-in location is "any").
	verify(0, "bitrot", "b2")
	verify(1, "bitrot", "")
	all = integrityAlerts(t, s)
	b2, anyLoc := all["INTEGRITY_FAILURE:FULL_DATABASE:-:b2"], all["INTEGRITY_FAILURE:FULL_DATABASE:-:any"]
	if len(all) != 3 || b2 == nil || anyLoc == nil || detailsOf(t, b2).Count != 1 || detailsOf(t, anyLoc).Count != 1 {
		t.Fatalf("alerts %v", all)
	}

	// Matching verifies at r2 take backups out of the r2 alert without a
	// notification; the one of backup 1 also clears the location-less
	// mismatch, which may have read that copy.
	for i := range 4 {
		verify(i, fmt.Sprintf("full-%d.dump", i), "r2")
	}
	all = integrityAlerts(t, s)
	a, d = all[r2], detailsOf(t, all[r2])
	if a["status"] != "ACTIVE" || d.Count != 1 || len(d.Backups) != 1 || d.Backups[0].ID != ids[4] || a["backup_id"] != ids[4] {
		t.Fatalf("after 4 matches: %v %+v", a, d)
	}
	if n := outboxRows(t, s, alertID); len(n) != 1 {
		t.Errorf("outbox %v: a smaller affected set notifies no one", n)
	}
	if got := all["INTEGRITY_FAILURE:FULL_DATABASE:-:any"]; got["status"] != "RESOLVED" {
		t.Errorf("location-less alert after a match at r2: %v", got["status"])
	}
	if got := all["INTEGRITY_FAILURE:FULL_DATABASE:-:b2"]; got["status"] != "ACTIVE" {
		t.Errorf("a match at r2 cleared the b2 alert: %v", got["status"])
	}
	verify(4, "full-4.dump", "r2")
	got := s.Call(t, 200, "GET", "/v1/alerts/"+alertID, s.operator, nil)
	if got["status"] != "RESOLVED" || got["resolved_by"] != nil || !strings.Contains(got["resolution_notes"].(string), "full-4.dump") {
		t.Errorf("after the last match: %v", got)
	}
	if n := outboxRows(t, s, alertID); n["opened"] != 3 || n["resolved"] != 3 {
		t.Errorf("outbox %v", n)
	}
	// A verify of every copy clears b2 too.
	verify(0, "full-0.dump", "")
	if got := integrityAlerts(t, s)["INTEGRITY_FAILURE:FULL_DATABASE:-:b2"]; got["status"] != "RESOLVED" {
		t.Errorf("b2 alert after a match of every copy: %v", got["status"])
	}
	// A new mismatch after the resolution opens a new alert.
	if a := verify(3, "bitrot", "r2")["alert"].(map[string]any); a["id"] == alertID || detailsOf(t, a).Count != 1 {
		t.Errorf("new occurrence: %v", a)
	}
}

// TestIntegrityAlertPerSeries: a tenant's series is its own alert, named by
// the series key the checks use, and visible to the tenant.
func TestIntegrityAlertPerSeries(t *testing.T) {
	s := newSetup(t)
	full := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 10))["id"].(string)
	acme := s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 10))["id"].(string)
	s.Call(t, 200, "POST", "/v1/backups/"+full+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("x"), "location": "r2"})
	a := s.Call(t, 200, "POST", "/v1/backups/"+acme+"/verify", s.tenantJob, map[string]any{"checksum": testenv.Checksum("x"), "location": "r2"})["alert"].(map[string]any)
	if a["fingerprint"] != "INTEGRITY_FAILURE:TENANT_BACKUP:"+s.tenant+":r2" || a["tenant_id"] != s.tenant || detailsOf(t, a).Count != 1 {
		t.Fatalf("tenant alert %v", a)
	}
	if n := len(integrityAlerts(t, s)); n != 2 {
		t.Errorf("%d alerts, want one per series", n)
	}
	mine := alertsOf(t, s, s.Key(t, "operator", s.tenant), "alert_type=INTEGRITY_FAILURE")
	if len(mine) != 1 || mine[0]["id"] != a["id"] {
		t.Errorf("the tenant sees %v", mine)
	}
}

// TestIntegrityAlertListsAtMost50: the details list the 50 newest affected
// backups and count them all.
func TestIntegrityAlertListsAtMost50(t *testing.T) {
	s := newSetup(t)
	var last map[string]any
	for i := range 52 {
		id := s.create(t, s.job, testenv.Completed("CONFIGURATION", "", fmt.Sprintf("c-%d.json", i), 1))["id"].(string)
		last = s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("x"), "location": "r2"})
		s.Clock.Advance(time.Second)
	}
	d := detailsOf(t, last["alert"].(map[string]any))
	if d.Count != 52 || len(d.Backups) != 50 || d.Backups[0].Filename != "c-51.json" {
		t.Errorf("count %d, %d listed, newest %+v", d.Count, len(d.Backups), d.Backups[0])
	}
	if n := len(integrityAlerts(t, s)); n != 1 {
		t.Errorf("%d alerts", n)
	}
}
