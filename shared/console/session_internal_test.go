package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// sessionSetup is a console with a session of an operator key (of a
// tenant if tenant), and the session's cookie value.
func sessionSetup(t *testing.T, tenant bool) (*testenv.API, *Console, string) {
	a := testenv.NewAPI(t)
	c := New(Config{Pool: a.Pool, Logger: testenv.Quiet(), Now: a.Clock.Now})
	tn := ""
	if tenant {
		tn = a.Tenant(t, "acme")
	}
	key := a.Key(t, "operator", tn)
	ctx := context.Background()
	who, err := store.LookupKey(ctx, a.Pool, auth.Hash(key))
	if err != nil {
		t.Fatal(err)
	}
	tok := "review-session-token-0123456789"
	if err := store.CreateSession(ctx, a.Pool, auth.Hash(tok), who.KeyID, "csrf", a.Clock.Now().UTC(), IdleLimit); err != nil {
		t.Fatal(err)
	}
	return a, c, tok
}

// getPage GETs a page of h with the session's cookie.
func getPage(h http.Handler, tok string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/console/x", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRememberedSessionFailure: a page whose first round trip fails before
// the session's check has run (here a statement that does not parse) is
// the failure it is, on the fast path as on the first: not a sign-out, and
// the session stays remembered.
func TestRememberedSessionFailure(t *testing.T) {
	_, c, tok := sessionSetup(t, false)
	h := c.page(func(ctx context.Context, p *request) (*view, error) {
		var b pgx.Batch
		b.Queue(`SELECT no_such_column FROM backups_backup`)
		return nil, p.tx.SendBatch(ctx, &b).Close()
	})
	first := getPage(h, tok)
	second := getPage(h, tok)
	_, cached := c.sessions.get(auth.Hash(tok))
	if first.Code != http.StatusInternalServerError || second.Code != http.StatusInternalServerError || !cached {
		t.Errorf("first %d, remembered %d (Location %q), still remembered %v; want 500, 500, true",
			first.Code, second.Code, second.Header().Get("Location"), cached)
	}
}

// TestRememberedSessionSavepoint: a savepoint (tx.Begin) on a remembered
// session's page runs in the key's scope, as on the first page.
func TestRememberedSessionSavepoint(t *testing.T) {
	_, c, tok := sessionSetup(t, true)
	var got []string
	h := c.page(func(ctx context.Context, p *request) (*view, error) {
		sp, err := p.tx.Begin(ctx)
		if err != nil {
			return nil, err
		}
		var setting, role string
		if err := sp.QueryRow(ctx, `SELECT current_setting('app.tenant_id'), current_user`).Scan(&setting, &role); err != nil {
			return nil, err
		}
		got = append(got, setting+" as "+role)
		if err := sp.Commit(ctx); err != nil {
			return nil, err
		}
		return &view{Redirect: "/x"}, nil
	})
	getPage(h, tok)
	getPage(h, tok)
	if len(got) != 2 || got[0] != got[1] || !strings.HasSuffix(got[0], " as backupwatch_app") {
		t.Errorf("in a savepoint, first page then remembered: %v; want the tenant's scope twice", got)
	}
}
