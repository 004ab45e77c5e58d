package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestScreenshots writes a PNG of every page, light and dark, at desktop
// and phone width, into $BACKUPWATCH_SCREENSHOTS (`make screenshots`:
// docs/console). Without the variable it does nothing: it makes pictures
// for people, it checks nothing the other tests do not.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("BACKUPWATCH_SCREENSHOTS")
	if dir == "" {
		t.Skip("set BACKUPWATCH_SCREENSHOTS to a directory (make screenshots)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSite(t)
	w := seed(t, s)
	b := newBrowser(t, s.URL)
	pages := []struct{ name, path string }{
		{"signin", "/console/"},
		{"status", "/console/status"},
		{"series", "/console/series"},
		{"backups", "/console/backups?limit=12"},
		{"backup", "/console/backups/" + w.AcmeNewest},
		{"restores", "/console/restores"},
		{"restore", "/console/restores/" + w.Restore},
		{"alerts", "/console/alerts?status=ACTIVE,ACKNOWLEDGED"},
		{"alert", ""},
		{"storage", "/console/storage"},
	}
	shoot := func(name string) {
		for _, scheme := range []string{"light", "dark"} {
			for _, size := range []struct {
				name string
				w, h int64
			}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
				b.do(chromedp.EmulateViewport(size.w, size.h), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
					return err
				}))
				png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name+"-"+scheme+"-"+size.name+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	b.open("/console/")
	shoot("signin")
	b.signIn(w.Operator)
	for _, p := range pages[1:] {
		path := p.path
		if p.name == "alert" {
			// The size alert: its page shows the series' chart.
			b.open("/console/backups/" + w.AcmeNewest)
			links, texts := b.attrs(`#alerts-h + div a[href^="/console/alerts/"]`, "href"), b.texts(`#alerts-h + div a[href^="/console/alerts/"]`)
			path = links[0]
			for i, tx := range texts {
				if strings.Contains(tx, "usual size") {
					path = links[i]
				}
			}
		}
		b.open(path)
		shoot(p.name)
	}
	// The audit trail is an admin's page.
	b = newBrowser(t, s.URL)
	b.signIn(s.AdminKey)
	b.open("/console/audit")
	shoot("audit")
}
