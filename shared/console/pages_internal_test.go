package console

import (
	"io/fs"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEveryPageParses: every page's template parses with the layout (the
// console parses each the first time it is shown).
func TestEveryPageParses(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found %d templates: %v", len(names), names)
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		if parsePage(name).Lookup("main") == nil {
			t.Errorf("page %s defines no main", name)
		}
	}
}

// TestNoticeFitsItsCookie: a bulk change's line rides in a cookie, which a
// browser drops whole past 4 KB; with long names it keeps what fits (the
// counts always) and the next page reads it back.
func TestNoticeFitsItsCookie(t *testing.T) {
	for _, tc := range []struct {
		skipped, nameLen int
		nameKept         bool
		listKept         bool
		reasonLen        int
	}{
		{skipped: 10, nameLen: 3, nameKept: true, listKept: true, reasonLen: 20},
		{skipped: 10, nameLen: 60, nameKept: false, listKept: true, reasonLen: 20},
		{skipped: 10, nameLen: 60, nameKept: false, listKept: false, reasonLen: 400},
	} {
		long := strings.Repeat("Ü<&>", tc.nameLen) // escaped longer in JSON
		n := notice{Text: "Acknowledged 1 alert.", Left: tc.skipped + 5}
		for range tc.skipped {
			n.Skipped = append(n.Skipped, skippedAlert{ID: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", Name: long, Reason: strings.Repeat("r", tc.reasonLen)})
		}
		w := httptest.NewRecorder()
		var c Console
		if _, err := c.bounce(&request{w: w, r: httptest.NewRequest("POST", Prefix+"/alerts/acknowledge", nil)}, Prefix+"/alerts", n); err != nil {
			t.Fatal(err)
		}
		ck := w.Result().Cookies()[0]
		if len(ck.Value) > maxNotice || len(ck.String()) > 4000 {
			t.Fatalf("%d skipped: a cookie of %d bytes", tc.skipped, len(ck.String()))
		}
		r := httptest.NewRequest("GET", Prefix+"/alerts", nil)
		r.AddCookie(ck)
		got := c.takeNotice(httptest.NewRecorder(), r)
		if got == nil || got.Text != n.Text || got.Left != n.Left {
			t.Fatalf("%d skipped: read back %+v", tc.skipped, got)
		}
		if (len(got.Skipped) > 0) != tc.listKept || (tc.listKept && (got.Skipped[0].Name != "") != tc.nameKept) {
			t.Errorf("%d skipped, reasons of %d: kept %+v; want names %v, list %v", tc.skipped, tc.reasonLen, got.Skipped, tc.nameKept, tc.listKept)
		}
	}
}
