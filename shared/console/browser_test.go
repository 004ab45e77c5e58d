package console_test

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium (Debian's chromium, which `make deps`
// installs) with one tab, for one test.
type browser struct {
	t    testing.TB
	ctx  context.Context
	base string
}

func newBrowser(t testing.TB, base string) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the console's browser tests need Chromium: `make deps` installs Debian's chromium package (%v)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-gpu", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Started here, on the tab's own context: the steps' contexts below end
	// with each step, and a browser started on one would end with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx, base: base}
	b.do(chromedp.EmulateViewport(1280, 900))
	return b
}

// stepTimeout bounds one step, so that a page that never shows what a
// step waits for fails the test instead of hanging it (not a speed limit:
// a step takes well under a second).
const stepTimeout = time.Minute

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// open loads path and waits for the page.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// click clicks the first element sel matches and waits until the browser is
// on a page whose path is not the one it was on (or, with same, any load).
func (b *browser) click(sel string) {
	b.t.Helper()
	before := b.location()
	b.do(chromedp.Click(chromedp.CSS(sel)))
	b.waitLeft(before)
}

// waitLeft waits until the location is no longer before, then for the body.
func (b *browser) waitLeft(before string) {
	b.t.Helper()
	for b.location() == before {
		time.Sleep(20 * time.Millisecond)
	}
	b.do(chromedp.WaitReady(chromedp.CSS("body")))
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("browser location: %v", err)
	}
	return loc
}

// path is the current path and query, without the server.
func (b *browser) path() string {
	return strings.TrimPrefix(b.location(), b.base)
}

func (b *browser) query() url.Values {
	u, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Query()
}

// text is the visible text of the first element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout) // it waits for sel
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// texts is the text of every element sel matches (none: empty).
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(`+jsString(sel)+`)).map(e => e.textContent.trim())`))
	if err != nil {
		b.t.Fatalf("texts of %s: %v", sel, err)
	}
	return out
}

// attrs is the attribute name of every element sel matches.
func (b *browser) attrs(sel, name string) []string {
	b.t.Helper()
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(`+jsString(sel)+`)).map(e => e.getAttribute(`+jsString(name)+`) || "")`))
	if err != nil {
		b.t.Fatalf("attributes %s of %s: %v", name, sel, err)
	}
	return out
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// signIn signs in with key on the sign-in form.
func (b *browser) signIn(key string) {
	b.t.Helper()
	b.open("/console/")
	b.do(chromedp.SendKeys(chromedp.ID("key"), key))
	before := b.location()
	b.do(chromedp.Submit(chromedp.ID("key")))
	b.waitLeft(before)
}

// page is a helper for the tests' expectations on the whole page text.
func (b *browser) body() string { return b.text("body") }
