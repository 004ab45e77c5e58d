package console

import (
	"io/fs"
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
