// Package httpapi is backupwatch's HTTP API: one net/http handler per route
// of API.md, served by `backupwatch serve` on a real server and by the Lambda
// functions through shared/apigw.
//
// A request reads: authenticate, authorize, decode, validate, store, respond.
// Each authenticated request runs in one database transaction whose tenant
// scope (row-level security) is the key's, so a missing filter cannot leak
// another tenant's rows; a refused request rolls back and writes nothing.
package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/store"
)

// The Lambda functions that serve the API; each route belongs to one.
const (
	FuncBackups  = "backups"
	FuncRestores = "restores"
	FuncAlerts   = "alerts"
	FuncAdmin    = "admin"
)

// Route is one entry of the API: its method and path pattern, the function
// that serves it in AWS, and who may call it. The route table drives the
// router, the SAM template test and the authorization tests.
type Route struct {
	Method     string
	Path       string // net/http pattern path, e.g. /v1/backups/{id}
	Function   string
	Roles      []auth.Role // nil: no key needed
	Idempotent bool        // honours Idempotency-Key
	handle     handlerFunc
}

// Pattern is the net/http ServeMux pattern of the route.
func (rt Route) Pattern() string { return rt.Method + " " + rt.Path }

// call is what a handler gets: the request, its transaction and its caller.
type call struct {
	r     *http.Request
	tx    store.DB // the request's transaction
	who   auth.Principal
	now   time.Time
	body  []byte
	after []func(context.Context) // run after the transaction commits and the response is written
	// settle runs after the transaction commits, before the response: work
	// of the request's own that the response must reflect but that need not
	// share its transaction.
	settle []func(context.Context)
	// mayCommit says the handler's last statement may commit the
	// transaction itself (nothing of the request's is written after it:
	// no Idempotency-Key to store).
	mayCommit bool

	relayQueued bool
}

// afterCommit schedules fn to run once the request's transaction committed.
func (c *call) afterCommit(fn func(context.Context)) { c.after = append(c.after, fn) }

type handlerFunc func(ctx context.Context, c *call) (status int, body any, err error)

// Hooks are what the API triggers beyond its own tables.
type Hooks struct {
	// AfterAlert runs after a request that raised or resolved an alert has
	// committed (the notification relay). It must bound its own time.
	AfterAlert func(ctx context.Context)
}

// Config is what the API needs.
type Config struct {
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
	Hooks  Hooks
	// Routing says which channels each severity reaches (nil: DESIGN.md's table).
	Routing alert.Routing
	// Checks runs POST /v1/checks/run (nil: a runner on Pool with the same
	// routing and no after-run relay).
	Checks *check.Runner
}

// Server holds the API's dependencies and its route table.
type Server struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	now    func() time.Time
	hooks  Hooks
	alerts *alerting.Engine
	checks *check.Runner
}

// New returns the API.
func New(cfg Config) *Server {
	s := &Server{pool: cfg.Pool, log: cfg.Logger, now: cfg.Now, hooks: cfg.Hooks, alerts: alerting.New(cfg.Routing)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.checks = cfg.Checks; s.checks == nil {
		s.checks = check.New(check.Config{Pool: cfg.Pool, Logger: s.log, Routing: cfg.Routing})
	}
	return s
}

// Routes returns the route table.
func (s *Server) Routes() []Route { return AllRoutes(s) }

var (
	anyone    []auth.Role
	writers   = []auth.Role{auth.Job, auth.Admin}
	readers   = []auth.Role{auth.Job, auth.Operator, auth.Admin}
	operators = []auth.Role{auth.Operator, auth.Admin}
	restorers = []auth.Role{auth.Job, auth.Operator, auth.Admin}
	admins    = []auth.Role{auth.Admin}
)

// Table is the route table of one Lambda function of the API. A binary
// links the handlers of the tables it serves and no others, which keeps
// each function's bootstrap smaller (bench/README.md, cold start).
type Table func(s *Server) []Route

// AdminRoutes are the admin function's routes: health, tenants, users, API
// keys, policies, storage targets, checks and status.
func AdminRoutes(s *Server) []Route {
	return []Route{
		{Method: "GET", Path: "/v1/health", Function: FuncAdmin, Roles: anyone, handle: s.health},
		{Method: "POST", Path: "/v1/tenants", Function: FuncAdmin, Roles: admins, Idempotent: true, handle: s.createTenant},
		{Method: "GET", Path: "/v1/tenants", Function: FuncAdmin, Roles: readers, handle: s.listTenants},
		{Method: "GET", Path: "/v1/tenants/{id}", Function: FuncAdmin, Roles: readers, handle: s.getTenant},
		{Method: "POST", Path: "/v1/users", Function: FuncAdmin, Roles: admins, Idempotent: true, handle: s.createUser},
		{Method: "GET", Path: "/v1/users", Function: FuncAdmin, Roles: admins, handle: s.listUsers},
		{Method: "GET", Path: "/v1/users/{id}", Function: FuncAdmin, Roles: admins, handle: s.getUser},
		{Method: "POST", Path: "/v1/api-keys", Function: FuncAdmin, Roles: admins, handle: s.createAPIKey},
		{Method: "GET", Path: "/v1/api-keys", Function: FuncAdmin, Roles: admins, handle: s.listAPIKeys},
		{Method: "DELETE", Path: "/v1/api-keys/{id}", Function: FuncAdmin, Roles: admins, handle: s.revokeAPIKey},
		{Method: "GET", Path: "/v1/policies", Function: FuncAdmin, Roles: admins, handle: s.listPolicies},
		{Method: "PUT", Path: "/v1/policies/{backup_type}", Function: FuncAdmin, Roles: admins, handle: s.putPolicy},
		{Method: "GET", Path: "/v1/storage-targets", Function: FuncAdmin, Roles: admins, handle: s.listStorageTargets},
		{Method: "PUT", Path: "/v1/storage-targets/{name}", Function: FuncAdmin, Roles: admins, handle: s.putStorageTarget},
		{Method: "POST", Path: "/v1/checks/run", Function: FuncAdmin, Roles: admins, handle: s.runChecks},
		{Method: "GET", Path: "/v1/status", Function: FuncAdmin, Roles: operators, handle: s.status},
	}
}

// BackupRoutes are the backups function's routes.
func BackupRoutes(s *Server) []Route {
	return []Route{
		{Method: "POST", Path: "/v1/backups", Function: FuncBackups, Roles: writers, Idempotent: true, handle: s.createBackup},
		{Method: "GET", Path: "/v1/backups", Function: FuncBackups, Roles: readers, handle: s.listBackups},
		{Method: "GET", Path: "/v1/backups/{id}", Function: FuncBackups, Roles: readers, handle: s.getBackup},
		{Method: "PATCH", Path: "/v1/backups/{id}", Function: FuncBackups, Roles: writers, handle: s.patchBackup},
		{Method: "POST", Path: "/v1/backups/{id}/verify", Function: FuncBackups, Roles: writers, handle: s.verifyBackup},
	}
}

// RestoreRoutes are the restores function's routes.
func RestoreRoutes(s *Server) []Route {
	return []Route{
		{Method: "POST", Path: "/v1/restores", Function: FuncRestores, Roles: restorers, Idempotent: true, handle: s.createRestore},
		{Method: "GET", Path: "/v1/restores", Function: FuncRestores, Roles: readers, handle: s.listRestores},
		{Method: "GET", Path: "/v1/restores/{id}", Function: FuncRestores, Roles: readers, handle: s.getRestore},
		{Method: "PATCH", Path: "/v1/restores/{id}", Function: FuncRestores, Roles: restorers, handle: s.patchRestore},
	}
}

// AlertRoutes are the alerts function's routes.
func AlertRoutes(s *Server) []Route {
	return []Route{
		{Method: "GET", Path: "/v1/alerts", Function: FuncAlerts, Roles: operators, handle: s.listAlerts},
		{Method: "GET", Path: "/v1/alerts/{id}", Function: FuncAlerts, Roles: operators, handle: s.getAlert},
		{Method: "POST", Path: "/v1/alerts/{id}/acknowledge", Function: FuncAlerts, Roles: operators, handle: s.acknowledgeAlert},
		{Method: "POST", Path: "/v1/alerts/{id}/resolve", Function: FuncAlerts, Roles: operators, handle: s.resolveAlert},
		{Method: "POST", Path: "/v1/alerts/acknowledge", Function: FuncAlerts, Roles: operators, handle: s.bulkAcknowledge},
		{Method: "POST", Path: "/v1/alerts/resolve", Function: FuncAlerts, Roles: operators, handle: s.bulkResolve},
	}
}

// AllRoutes is every route of the API: what `backupwatch serve` serves.
func AllRoutes(s *Server) []Route {
	return slices.Concat(AdminRoutes(s), BackupRoutes(s), RestoreRoutes(s), AlertRoutes(s))
}

// Handler returns the routes of the given tables on one handler, with
// request logging and panic recovery.
func (s *Server) Handler(tables ...Table) http.Handler {
	if len(tables) == 0 {
		panic("httpapi: Handler needs at least one route table")
	}
	mux := http.NewServeMux()
	known := http.NewServeMux() // paths without methods, to tell 405 from 404
	seen := map[string]bool{}
	for _, table := range tables {
		for _, rt := range table(s) {
			mux.Handle(rt.Pattern(), s.serve(rt))
			if !seen[rt.Path] {
				seen[rt.Path] = true
				known.Handle(rt.Path, http.NotFoundHandler())
			}
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, p := known.Handler(r); p != "" {
			writeError(w, newError(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s", r.Method, r.URL.Path))
			return
		}
		writeError(w, notFound("route"))
	})
	return s.logged(mux)
}

// serve turns a route into an http.Handler: authenticate, authorize, run the
// handler in a scoped transaction, answer.
func (s *Server) serve(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		c := &call{r: r, now: s.now().UTC().Truncate(time.Microsecond)}
		if rt.Roles == nil { // public: no key, no transaction
			status, body, err := rt.handle(ctx, c)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			writeJSON(w, status, body)
			return
		}
		key, ok := auth.FromHeader(r.Header.Get("Authorization"))
		if !ok {
			writeError(w, unauthorized())
			return
		}
		var (
			status int
			out    []byte
		)
		// The body is read before a connection is taken, so a slow client
		// holds none; its errors still come after the key's.
		body, bodyErr := readBody(r)
		err := store.AsKey(ctx, s.pool, auth.Hash(key), func(tx store.DB, who auth.Principal) (err error) {
			c.tx, c.who = tx, who
			if !slices.Contains(rt.Roles, who.Role) {
				return forbidden("a %s key may not %s %s", who.Role, r.Method, rt.Path)
			}
			if bodyErr != nil {
				return bodyErr
			}
			c.body = body
			var replay *store.Stored
			idemKey := r.Header.Get("Idempotency-Key")
			c.mayCommit = !rt.Idempotent || idemKey == ""
			if rt.Idempotent && idemKey != "" {
				if replay, err = s.idempotent(ctx, c, idemKey); err != nil || replay != nil {
					if replay != nil {
						status, out = replay.Status, replay.Body
						return errReplay
					}
					return err
				}
			}
			var res any
			status, res, err = rt.handle(ctx, c)
			if err != nil {
				return err
			}
			if res != nil {
				if out, err = json.Marshal(res); err != nil {
					return err
				}
			}
			if rt.Idempotent && idemKey != "" {
				return store.PutIdempotent(ctx, tx, who.KeyID, who.Tenant, idemKey, store.Stored{
					RequestHash: requestHash(r, c.body), Status: status, Body: out})
			}
			return nil
		})
		if errors.Is(err, store.ErrNotFound) && c.tx == nil {
			err = unauthorized()
		}
		if err != nil && !errors.Is(err, errReplay) {
			s.fail(w, r, err)
			return
		}
		if errors.Is(err, errReplay) {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		if err == nil && len(c.settle) > 0 {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
			for _, fn := range c.settle {
				fn(sctx)
			}
			cancel()
		}
		writeRaw(w, status, out)
		for _, fn := range c.after {
			fn(context.WithoutCancel(ctx))
		}
	})
}

// settleTimeout bounds a request's settle work (call.settle), which runs
// before its response: past it, the work is left to the check run.
const settleTimeout = 5 * time.Second

// errReplay ends the transaction of a replayed request without writing.
var errReplay = errors.New("idempotent replay")

// idempotent applies Idempotency-Key: it returns the stored response of an
// earlier request with the same key and body, or nil to go ahead.
func (s *Server) idempotent(ctx context.Context, c *call, key string) (*store.Stored, error) {
	if !asciiPrintable(key, 255) {
		return nil, invalidField("Idempotency-Key", "must be 1 to 255 printable ASCII characters")
	}
	ok, err := store.LockIdempotencyKey(ctx, c.tx, c.who.KeyID, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, newError(http.StatusConflict, "idempotency_key_in_use", "a request with this Idempotency-Key is still being processed; retry shortly")
	}
	stored, err := store.GetIdempotent(ctx, c.tx, c.who.KeyID, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !slices.Equal(stored.RequestHash, requestHash(c.r, c.body)) {
		return nil, newError(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
	}
	return &stored, nil
}

// requestHash identifies a request for Idempotency-Key: method, path and the
// body in canonical form.
func requestHash(r *http.Request, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(canonicalJSON(body))
	return h.Sum(nil)
}

// fail writes err as the contract's error and logs what the client is not told.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := errorFrom(err)
	if e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r), "error", err.Error())
	}
	writeError(w, e)
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	b, _ := json.Marshal(map[string]*Error{"error": e})
	writeRaw(w, e.Status, b)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		writeError(w, &Error{Status: 500, Code: "internal", Message: "internal error"})
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	if b != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	if b != nil {
		_, _ = w.Write(b)
	}
}

// list is the shape of every list response.
type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func newList[T any](items []T, next *store.Cursor) list[T] {
	if items == nil {
		items = []T{}
	}
	l := list[T]{Items: items}
	if next != nil {
		c := encodeCursor(*next)
		l.NextCursor = &c
	}
	return l
}

type ctxKey int

const requestIDKey ctxKey = 0

func requestID(r *http.Request) string {
	if id, ok := r.Context().Value(requestIDKey).(string); ok {
		return id
	}
	return ""
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
