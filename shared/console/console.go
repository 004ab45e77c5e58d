// Package console is backupwatch's web console: server-rendered HTML pages
// for the people who look after backups (CONSOLE.md), served by `backupwatch
// serve` at /console/ and in AWS by the console function behind the same
// HTTP API.
//
// It reads and writes through the same code as the API, never through HTTP
// calls to it: the API's filter readers (httpapi.BackupFilterOf and its
// siblings), the store, the alert engine and the check runner's status. Each
// page runs in one database transaction scoped like an API request of the
// signed-in key, so row-level security keeps a tenant's key to its tenant.
//
// A session starts by signing in with an operator or admin API key (a job
// key is refused) and acts as that key until it signs out, goes 12 hours
// unused, or the key is revoked. Every POST carries the session's CSRF
// token; one without it changes nothing and answers 403.
package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Prefix is where the console lives, in `serve` and behind API Gateway.
const Prefix = "/console"

// Routes are the console's routes in API Gateway (template.yaml): the
// function takes every path under Prefix and routes them itself.
var Routes = []string{"GET " + Prefix, "ANY " + Prefix + "/{proxy+}"}

// IdleLimit is how long a session may go unused before it is over.
const IdleLimit = 12 * time.Hour

// touchEvery is how stale a session's last use may be recorded: a page
// view writes it at most once a minute.
const touchEvery = time.Minute

// The cookies: the session, and the token of the sign-in form (a form with
// no session yet still carries one).
const (
	sessionCookie = "bw_session"
	signInCookie  = "bw_signin"
)

// Config is what the console needs.
type Config struct {
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
	// Routing says which channels each severity reaches when no table is
	// stored (as for the API).
	Routing alert.Routing
	// AfterAlert runs after a change that resolved alerts has committed
	// (the notification relay), as the API's hook does.
	AfterAlert func(ctx context.Context)
	// Checks reads the status page (nil: a runner on Pool).
	Checks *check.Runner
	// StatementTimeout bounds each statement of a page (0: 5s).
	StatementTimeout time.Duration
	// CursorSecret seals the list pages' cursors, the API's own (nil: the
	// deployment's stored secret).
	CursorSecret []byte
}

// Console serves the console's pages.
type Console struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	now     func() time.Time
	alerts  *alerting.Engine
	checks  *check.Runner
	timeout time.Duration
	after   func(ctx context.Context)
	pages   pages

	sessions sessionCache

	secretMu sync.Mutex
	secret   []byte
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// New returns the console.
func New(cfg Config) *Console {
	c := &Console{pool: cfg.Pool, log: cfg.Logger, now: cfg.Now, alerts: alerting.New(cfg.Routing),
		checks: cfg.Checks, timeout: cfg.StatementTimeout, after: cfg.AfterAlert, secret: cfg.CursorSecret}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.timeout <= 0 {
		c.timeout = 5 * time.Second
	}
	if c.checks == nil {
		c.checks = check.New(check.Config{Pool: cfg.Pool, Logger: c.log, Routing: cfg.Routing})
	}
	c.pages.parsed = map[string]*template.Template{}
	return c
}

// pages are the pages' templates, each parsed with the layout it fills the
// first time it is shown: parsing all of them was 3 ms of the console
// function's init, most of what set its cold start apart from the other
// functions' (bench/REPORT.md, cold start), and html/template analyses a
// template's escaping on its first use anyway. TestEveryPageParses parses
// them all.
type pages struct {
	mu     sync.Mutex
	parsed map[string]*template.Template
}

func (ps *pages) get(name string) *template.Template {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	t, ok := ps.parsed[name]
	if !ok {
		t = parsePage(name)
		ps.parsed[name] = t
	}
	return t
}

// parsePage parses page name with the layout it fills.
func parsePage(name string) *template.Template {
	file := "templates/" + name + ".html"
	if _, err := fs.Stat(templateFS, file); err != nil || name == "layout" {
		panic("console: no template " + name)
	}
	return template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", file))
}

// Handler returns the console's routes, every answer with its security
// headers.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET "+Prefix+"/{$}", c.home)
	mux.HandleFunc("POST "+Prefix+"/{$}", c.signIn)
	mux.Handle("POST "+Prefix+"/logout", c.page(c.signOut))
	mux.Handle("GET "+Prefix+"/status", c.page(c.status))
	mux.Handle("GET "+Prefix+"/series", c.page(c.series))
	mux.Handle("GET "+Prefix+"/storage", c.page(c.storage))
	mux.Handle("GET "+Prefix+"/audit", c.page(c.auditTrail))
	mux.Handle("GET "+Prefix+"/backups", c.page(c.backups))
	mux.Handle("GET "+Prefix+"/backups/{id}", c.page(c.backup))
	mux.Handle("GET "+Prefix+"/restores", c.page(c.restores))
	mux.Handle("GET "+Prefix+"/restores/{id}", c.page(c.restore))
	mux.Handle("GET "+Prefix+"/alerts", c.page(c.alertList))
	mux.Handle("GET "+Prefix+"/alerts/{id}", c.page(c.alert))
	mux.Handle("POST "+Prefix+"/alerts/acknowledge", c.page(c.acknowledge))
	mux.Handle("POST "+Prefix+"/alerts/resolve", c.page(c.resolve))
	mux.Handle("GET "+Prefix+"/a/{short}", c.page(c.shortLink))
	mux.HandleFunc("GET "+Prefix+"/assets/{name}", serveAsset)
	mux.Handle(Prefix+"/", c.page(func(ctx context.Context, p *request) (*view, error) {
		return nil, httpapi.Fail(store.ErrNotFound)
	}))
	return securityHeaders(mux)
}

// csp lets a page load the console's own stylesheet and script and nothing
// else: no inline script or style, no frames, forms only to the console.
const csp = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// request is one page view: who asks, in which transaction, at what time.
type request struct {
	r       *http.Request
	tx      pgx.Tx
	who     auth.Principal
	csrf    string
	now     time.Time
	alerted bool // the request resolved an alert: the relay runs after it
	token   []byte
	w       http.ResponseWriter
}

// view is what a page handler answers: the template and its data; a
// redirect when Redirect is set.
type view struct {
	Page     string
	Title    string
	Status   int
	Data     any
	Redirect string
	// Notice is the line that says what a change did; Problem what was
	// wrong with the request (nothing was changed).
	Notice  *notice
	Problem string
}

// layout is what every page's template gets.
type layout struct {
	Title   string
	Nav     string
	Who     *auth.Principal
	CSRF    string
	Notice  *notice
	Problem string
	Now     time.Time
	Data    any
}

type pageFunc func(ctx context.Context, p *request) (*view, error)

// page turns a page handler into an http.Handler: find the session (none:
// the sign-in page), check a POST's CSRF token, run the handler in a
// transaction scoped to the session's key, render.
func (c *Console) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		now := c.now().UTC().Truncate(time.Microsecond)
		sess, token, known := c.remembered(r)
		if !known {
			var err error
			sess, token, err = c.session(ctx, r, now)
			if errors.Is(err, store.ErrNotFound) {
				c.signedOut(w, r)
				return
			}
			if err != nil {
				c.fail(w, r, nil, err)
				return
			}
			c.sessions.put(token, sess)
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				c.renderError(w, r, &sess.Who, http.StatusBadRequest, "The form could not be read; nothing was changed.")
				return
			}
			if !sameToken(r.PostForm.Get("csrf"), sess.CSRF) {
				c.renderError(w, r, &sess.Who, http.StatusForbidden, "This form's safety token is missing or wrong, so nothing was changed. Reload the page and try again.")
				return
			}
		}
		if !known {
			c.touch(ctx, token, sess, now)
		}
		p := &request{r: r, who: sess.Who, csrf: sess.CSRF, now: now, token: token, w: w}
		var v *view
		scope := store.AllTenants
		if sess.Who.Tenant != nil {
			scope = store.TenantScope(*sess.Who.Tenant)
		}
		begin, check := scope, (*store.SessionCheck)(nil)
		if known {
			begin = store.AllTenants // the session is read there, then the scope narrows
		}
		err := store.InScopeWithin(ctx, c.pool, begin, c.timeout, func(tx pgx.Tx) error {
			p.tx = tx
			var checked *checkedTx
			if known {
				var b pgx.Batch
				check = store.QueueSessionCheck(&b, token, now, IdleLimit)
				store.QueueScope(&b, scope)
				checked = &checkedTx{Tx: tx, prelude: &b}
				p.tx = checked
			}
			var err error
			v, err = fn(ctx, p)
			if known {
				if ferr := checked.flush(ctx); ferr != nil {
					return ferr
				}
				if !check.Read {
					// The round trip that carried the check failed: its
					// error, and never a page without its check.
					if err == nil {
						err = errors.New("console: the session's check did not run")
					}
					return err
				}
				if !sameKey(check, sess) {
					return errSessionEnded
				}
			}
			return err
		})
		if errors.Is(err, errSessionEnded) {
			c.sessions.forget(token)
			c.signedOut(w, r)
			return
		}
		if known && sameKey(check, sess) {
			sess = check.Session // as read now, for the page's header
			c.touch(ctx, token, sess, now)
		}
		if err != nil {
			c.fail(w, r, &sess.Who, err)
			return
		}
		if p.alerted && c.after != nil {
			defer c.after(context.WithoutCancel(ctx))
		}
		if v.Redirect != "" {
			http.Redirect(w, r, v.Redirect, http.StatusSeeOther)
			return
		}
		if v.Notice == nil && r.Method == http.MethodGet {
			v.Notice = c.takeNotice(w, r)
		}
		c.render(w, v, layout{Title: v.Title, Nav: v.Page, Who: &sess.Who, CSRF: sess.CSRF, Notice: v.Notice,
			Problem: v.Problem, Now: now, Data: v.Data})
	})
}

// sameKey says the session check found the remembered session: live, for
// the same key, with the scope the page ran in.
func sameKey(check *store.SessionCheck, sess store.Session) bool {
	got, want := check.Session.Who, sess.Who
	return check.Found && got.KeyID == want.KeyID && got.Role == want.Role &&
		(got.Tenant == nil) == (want.Tenant == nil) && (got.Tenant == nil || *got.Tenant == *want.Tenant)
}

// remembered is the request's session as this process last saw it, for a
// GET (page): checked in the page's first round trip, not before it.
func (c *Console) remembered(r *http.Request) (store.Session, []byte, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return store.Session{}, nil, false
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return store.Session{}, nil, false
	}
	token := auth.Hash(ck.Value)
	s, ok := c.sessions.get(token)
	return s, token, ok
}

// signedOut answers a request without a live session: the sign-in page,
// which comes back here once signed in; a POST changes nothing.
func (c *Console) signedOut(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		c.renderError(w, r, nil, http.StatusForbidden, "You are not signed in (or your session ended), so nothing was changed. Sign in and try again.")
		return
	}
	http.Redirect(w, r, Prefix+"/?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// touch records the session's use, at most once every touchEvery.
func (c *Console) touch(ctx context.Context, token []byte, s store.Session, now time.Time) {
	if now.Sub(s.LastSeen) <= touchEvery {
		return
	}
	if err := store.TouchSession(ctx, c.pool, token, now); err != nil {
		c.log.WarnContext(ctx, "console: recording a session's use", "error", err.Error())
	}
}

// session finds the request's live session and its token's hash.
func (c *Console) session(ctx context.Context, r *http.Request, now time.Time) (store.Session, []byte, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return store.Session{}, nil, store.ErrNotFound
	}
	token := auth.Hash(ck.Value)
	lctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, err := store.LookupSession(lctx, c.pool, token, now, IdleLimit)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil, store.ErrNotFound
	}
	return s, token, err
}

// home is /console/: the status page when signed in, else the sign-in form.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	now := c.now().UTC()
	if _, _, known := c.remembered(r); known {
		c.page(c.status).ServeHTTP(w, r) // which checks the session
		return
	}
	if _, _, err := c.session(r.Context(), r, now); err == nil {
		c.page(c.status).ServeHTTP(w, r)
		return
	}
	c.signInForm(w, r, http.StatusOK, "")
}

// signInForm shows the sign-in form with a fresh token in its cookie.
func (c *Console) signInForm(w http.ResponseWriter, r *http.Request, status int, problem string) {
	tok := randomToken()
	http.SetCookie(w, c.cookie(r, signInCookie, tok, 3600))
	next := r.FormValue("next")
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") {
		next = ""
	}
	c.render(w, &view{Page: "signin", Status: status}, layout{Title: "Sign in", Nav: "signin", CSRF: tok,
		Problem: problem, Now: now(c), Data: map[string]string{"Next": next}})
}

func now(c *Console) time.Time { return c.now().UTC() }

// signIn checks the sign-in form: its token, then the key, which must be an
// operator's or an admin's.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.signInForm(w, r, http.StatusBadRequest, "The form could not be read. Try again.")
		return
	}
	ck, err := r.Cookie(signInCookie)
	if err != nil || !sameToken(r.PostForm.Get("csrf"), ck.Value) {
		c.signInForm(w, r, http.StatusForbidden, "This form's safety token is missing or wrong (the page may be old, or cookies are off). Try again from this page.")
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("key"))
	if !auth.WellFormed(key) {
		c.signInForm(w, r, http.StatusUnauthorized, "That is not an API key. Paste the whole key, starting with bw_.")
		return
	}
	ctx := r.Context()
	lctx, cancel := context.WithTimeout(ctx, c.timeout)
	who, err := store.LookupKey(lctx, c.pool, auth.Hash(key))
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.signInForm(w, r, http.StatusUnauthorized, "That key is not known, or it was revoked.")
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	case who.Role == auth.Job:
		c.signInForm(w, r, http.StatusForbidden, "A job key cannot sign in to the console: job keys only report backups and restores. Sign in with an operator or admin key.")
		return
	}
	tok := randomToken()
	if err := store.CreateSession(ctx, c.pool, auth.Hash(tok), who.KeyID, randomToken(), c.now().UTC(), IdleLimit); err != nil {
		c.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, c.cookie(r, sessionCookie, tok, 0))
	http.SetCookie(w, c.cookie(r, signInCookie, "", -1))
	next := r.PostForm.Get("next")
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		next = Prefix + "/status"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut ends the session.
func (c *Console) signOut(ctx context.Context, p *request) (*view, error) {
	if err := store.DeleteSession(ctx, c.pool, p.token); err != nil {
		return nil, err
	}
	c.sessions.forget(p.token)
	http.SetCookie(p.w, c.cookie(p.r, sessionCookie, "", -1))
	return &view{Redirect: Prefix + "/"}, nil
}

// cookie is one of the console's cookies: HttpOnly, SameSite=Strict, for
// the console's paths only, Secure when the request came over HTTPS (API
// Gateway says so in X-Forwarded-Proto). maxAge 0: until the browser
// closes; -1: delete it.
func (c *Console) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// render writes page v with its layout.
func (c *Console) render(w http.ResponseWriter, v *view, l layout) {
	t := c.pages.get(v.Page)
	var buf bytes.Buffer
	if err := t.Execute(&buf, l); err != nil {
		c.log.Error("console: rendering", "page", v.Page, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	status := v.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError writes the error page with sentence msg.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, who *auth.Principal, status int, msg string) {
	l := layout{Title: http.StatusText(status), Nav: "error", Who: who, Now: now(c), Problem: msg,
		Data: map[string]any{"Status": status}}
	if who != nil {
		if ck, err := r.Cookie(sessionCookie); err == nil {
			// The sign-out form of the error page needs the session's token.
			if s, err := store.LookupSession(r.Context(), c.pool, auth.Hash(ck.Value), now(c), IdleLimit); err == nil {
				l.CSRF = s.CSRF
			}
		}
	}
	c.render(w, &view{Page: "error", Status: status}, l)
}

// fail answers err as a page: the API's status and sentence, never SQL or
// a stack. A 404 says the same whether the object is missing or hidden.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, who *auth.Principal, err error) {
	e := httpapi.Fail(err)
	msg := e.Message
	switch {
	case e.Status == http.StatusNotFound:
		msg = "This page does not exist, or what it shows is not visible to your key."
	case e.Status >= 500:
		c.log.ErrorContext(r.Context(), "console: page failed", "path", r.URL.Path, "error", err.Error())
		if e.Status == http.StatusServiceUnavailable {
			msg = "The database cannot be reached or did not answer in time; nothing was changed. Try again shortly."
		} else {
			msg = "Something went wrong on our side; nothing was changed."
		}
	default:
		for _, d := range e.Details {
			if !strings.Contains(msg, d.Field) {
				msg += "; " + d.Field + " " + d.Message
			}
		}
	}
	c.renderError(w, r, who, e.Status, msg)
}

// cursorSecret is the API's cursor secret, read once.
func (c *Console) cursorSecret(ctx context.Context) ([]byte, error) {
	c.secretMu.Lock()
	defer c.secretMu.Unlock()
	if c.secret == nil {
		s, err := store.DeploymentSecret(ctx, c.pool, "cursor")
		if err != nil {
			return nil, err
		}
		c.secret = s
	}
	return c.secret, nil
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := assetFS.ReadFile("assets/" + name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}
