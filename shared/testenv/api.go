package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/objstore"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/verifier"
)

// API is the HTTP API served on a real loopback server over a fresh database.
type API struct {
	*DB
	Server   *httpapi.Server
	HTTP     *httptest.Server
	AdminKey string
	Clock    *Time
}

// NewAPI starts the API for t with an admin key. The clock starts at the
// real time; tests that need to move time advance it.
func NewAPI(t testing.TB) *API {
	t.Helper()
	return NewAPIWith(t, httpapi.Config{Logger: Quiet()})
}

// NewAPIWith is NewAPI with cfg's logger, hooks, routing and rate limit
// (none unless set); the pool and clock are the test's.
func NewAPIWith(t testing.TB, cfg httpapi.Config) *API {
	t.Helper()
	db := NewDB(t)
	a := &API{DB: db, Clock: NewTime(time.Now().UTC())}
	cfg.Pool, cfg.Now = db.Pool, a.Clock.Now
	if cfg.RateLimit == (httpapi.RateLimit{}) {
		// The suites send many requests with one key on a clock that does
		// not move; tests of the rate limit set their own budget.
		cfg.RateLimit = httpapi.RateLimit{RPS: 1e9, Burst: 1e9}
	}
	if cfg.Verifier == nil {
		// The copy verifier reads buckets as serve's does (a test's
		// versitygw, with the credentials its environment sets).
		cfg.Verifier = verifier.New(verifier.Config{Pool: db.Pool, Logger: cfg.Logger, Routing: cfg.Routing, Open: objstore.OpenReader})
	}
	a.Server = httpapi.New(cfg)
	a.HTTP = httptest.NewServer(HoldToContract(t, a.Server.Handler(httpapi.AllRoutes)))
	t.Cleanup(a.HTTP.Close)
	a.AdminKey = db.AdminKey(t)
	return a
}

// Response is an answer from the API.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map (or fails t).
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// Code returns the error code of an error response, or "".
func (r *Response) Code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// Request describes a call; Body may be a string (sent as is), []byte, or
// any value (sent as JSON).
type Request struct {
	Method  string
	Path    string
	Key     string
	Body    any
	Headers map[string]string
}

// Do sends req over HTTP. A body is sent with Content-Type: application/json
// unless Headers sets another.
func (a *API) Do(t testing.TB, req Request) *Response {
	t.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	r, err := http.NewRequest(req.Method, a.HTTP.URL+req.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.Key != "" {
		r.Header.Set("Authorization", "Bearer "+req.Key)
	}
	for k, v := range req.Headers {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	resp, err := a.HTTP.Client().Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// Call is Do for the common case; it fails t unless the status is want.
func (a *API) Call(t testing.TB, want int, method, path, key string, body any) map[string]any {
	t.Helper()
	r := a.Do(t, Request{Method: method, Path: path, Key: key, Body: body})
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(t)
}

// Tenant creates a tenant and returns its id.
func (a *API) Tenant(t testing.TB, slug string) string {
	t.Helper()
	m := a.Call(t, 201, "POST", "/v1/tenants", a.AdminKey, map[string]any{"name": strings.ToUpper(slug), "slug": slug})
	return m["id"].(string)
}

// Key creates an API key of role, scoped to tenant ("" for none), and
// returns its secret.
func (a *API) Key(t testing.TB, role, tenant string) string {
	t.Helper()
	body := map[string]any{"name": role + "-key", "role": role}
	if tenant != "" {
		body["tenant_id"] = tenant
	}
	m := a.Call(t, 201, "POST", "/v1/api-keys", a.AdminKey, body)
	return m["key"].(string)
}

// Checksum is a valid SHA-256 hex string derived from seed.
func Checksum(seed string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; b.Len() < 64; i++ {
		b.WriteByte(hex[(int(seed[i%len(seed)])+i*7)%16])
	}
	return b.String()
}

// Completed returns the body of a COMPLETED backup report of type typ.
func Completed(typ, tenant, filename string, size int64) map[string]any {
	b := map[string]any{
		"backup_type": typ, "filename": filename, "size_bytes": size,
		"checksum": Checksum(filename), "r2_path": "r2://backups/" + filename, "status": "COMPLETED",
		"compression_ratio": 3.2, "backup_duration_seconds": 60,
	}
	if tenant != "" {
		b["tenant_id"] = tenant
	}
	return b
}

// AdminKey creates an unscoped admin key in db and returns its secret.
func (db *DB) AdminKey(t testing.TB) string {
	t.Helper()
	key := auth.NewKey()
	err := store.InScope(context.Background(), db.Pool, store.AllTenants, func(tx pgx.Tx) error {
		_, err := store.EnsureAdminKey(context.Background(), tx, key, "test admin", time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return key
}
