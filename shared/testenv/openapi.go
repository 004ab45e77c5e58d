package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/backupwatch/backupwatch/api"
)

// The HTTP tests are held to the OpenAPI description (api/openapi.yaml):
// every request they send and every response they get passes through
// kin-openapi's request and response validation, so a field renamed in the
// code or in the document fails the suite.
//
// The rules, for each exchange:
//   - every response matches the document: its status is one the operation
//     lists, its body that status's schema (a request no operation matches
//     must be answered 404 or 405);
//   - a request the document rejects (a missing field, a wrong type, an
//     unknown field, no key) must be refused by the service with a 4xx.
//
// A request the document accepts may still be refused (a rule the document
// cannot say, such as a state transition): that is the service's to judge.

// Contract is the loaded and validated description, shared by every test
// of the process.
func Contract(t testing.TB) *openapi3.T {
	t.Helper()
	c := loadContract()
	if c.err != nil {
		t.Fatalf("api/openapi.yaml: %v", c.err)
	}
	return c.doc
}

type contract struct {
	doc    *openapi3.T
	router routers.Router
	err    error
}

var contractOnce = sync.OnceValue(func() *contract {
	c := &contract{}
	c.doc, c.err = LoadContract()
	if c.err != nil {
		return c
	}
	// Tests serve on a loopback port of their own: operations are matched
	// by path alone.
	routed := *c.doc
	routed.Servers = openapi3.Servers{{URL: "/"}}
	c.router, c.err = gorillamux.NewRouter(&routed)
	return c
})

func loadContract() *contract { return contractOnce() }

// LoadContract loads the embedded description with kin-openapi's loader
// and validates it (examples included).
func LoadContract() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.JSON)
	if err != nil {
		return nil, fmt.Errorf("loading: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validating: %w", err)
	}
	return doc, nil
}

// HoldToContract wraps h, a handler of the API, so that each exchange it
// serves is checked against the description; a breach fails t.
func HoldToContract(t testing.TB, h http.Handler) http.Handler {
	c, rep := loadContract(), newReporter(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			rep.Errorf("contract: reading the request body of %s %s: %v", r.Method, r.URL.Path, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(teeWriter{w, rec}, r)
		c.check(rep, r, body, rec.Code, w.Header(), rec.Body.Bytes())
	})
}

// ContractTransport wraps base (nil: http.DefaultTransport) for a client of
// the API served elsewhere (the built binary): each exchange is checked as
// HoldToContract checks it.
func ContractTransport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	rep := newReporter(t)
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		var body []byte
		if r.Body != nil {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				return nil, err
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(out))
		if err != nil {
			return resp, nil // the caller sees the short body; nothing to judge
		}
		loadContract().check(rep, r, body, resp.StatusCode, resp.Header, out)
		return resp, nil
	})
}

// reporter fails t with the breaches of exchanges made while t runs. An
// exchange can outlive its test (a client's transport used by a goroutine
// the test left behind, a handler still answering): failing t then would
// panic ("Fail in goroutine after ... has completed"), so its breach is
// dropped; it is no longer that test's.
type reporter struct {
	mu    sync.Mutex
	t     testing.TB
	ended bool
}

func newReporter(t testing.TB) *reporter {
	r := &reporter{t: t}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ended = true
	})
	return r
}

// Errorf fails t with the message, unless t has ended.
func (r *reporter) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ended {
		r.t.Errorf(format, args...)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// teeWriter writes a response to the client and keeps a copy.
type teeWriter struct {
	http.ResponseWriter
	rec *httptest.ResponseRecorder
}

func (w teeWriter) WriteHeader(status int) {
	w.rec.WriteHeader(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w teeWriter) Write(b []byte) (int, error) {
	_, _ = w.rec.Write(b)
	return w.ResponseWriter.Write(b)
}

// check judges one exchange: r with its body, answered status, header,
// out; rep is told of each breach.
func (c *contract) check(rep *reporter, r *http.Request, body []byte, status int, header http.Header, out []byte) {
	if c.err != nil {
		rep.Errorf("contract: api/openapi.yaml: %v", c.err)
		return
	}
	what := r.Method + " " + r.URL.RequestURI()
	// The validators read a copy: the request as the client sent it.
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.URL.Host, req.URL.Scheme = "", ""
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			rep.Errorf("contract: %s is no operation of the document, yet the service answered %d: %s", what, status, clip(out))
		}
		return
	}
	seen(route, status)
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:  bearerPresent,
			SkipSettingDefaults: true,
			MultiError:          true,
		},
	}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if reqErr != nil && status < 400 {
		rep.Errorf("contract: the document rejects %s (%v), yet the service answered %d", what, short(reqErr), status)
	}
	respErr := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(out)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if respErr != nil {
		rep.Errorf("contract: the response %d to %s breaks the document: %v\nbody: %s", status, what, short(respErr), clip(out))
	}
}

// bearerPresent is the document's security as a test can judge it: an
// Authorization header of the bearer kind (the service judges the key).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return errors.New("no bearer API key")
	}
	return nil
}

// short keeps a validation error to its first lines: the schemas it dumps
// are in the document.
func short(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\nSchema:"); i > 0 {
		s = s[:i]
	}
	if lines := strings.Split(s, "\n"); len(lines) > 6 {
		s = strings.Join(lines[:6], "\n") + "\n…"
	}
	return s
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// ContractCoverageEnv names a file to which a test binary of testenv.Main
// appends which operations of the document its tests called, with the
// statuses they got, and which they never called.
const ContractCoverageEnv = "BACKUPWATCH_CONTRACT_COVERAGE"

var coverage struct {
	sync.Mutex
	statuses map[string]map[int]bool // "METHOD /path" → statuses seen
}

func seen(route *routers.Route, status int) {
	op := route.Method + " " + route.Path
	coverage.Lock()
	defer coverage.Unlock()
	if coverage.statuses == nil {
		coverage.statuses = map[string]map[int]bool{}
	}
	if coverage.statuses[op] == nil {
		coverage.statuses[op] = map[int]bool{}
	}
	coverage.statuses[op][status] = true
}

// reportCoverage appends what ContractCoverageEnv asks for to the file at
// path (nothing when no test called the API).
func reportCoverage(path string) error {
	c := loadContract()
	coverage.Lock()
	defer coverage.Unlock()
	if c.err != nil || len(coverage.statuses) == 0 {
		return nil
	}
	var ops []string
	for p, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+p)
		}
	}
	slices.Sort(ops)
	var b strings.Builder
	fmt.Fprintf(&b, "contract coverage of %s: operation, statuses seen\n", filepath.Base(os.Args[0]))
	for _, op := range ops {
		statuses := slices.Sorted(maps.Keys(coverage.statuses[op]))
		if len(statuses) == 0 {
			fmt.Fprintf(&b, "  %-40s never called\n", op)
			continue
		}
		fmt.Fprintf(&b, "  %-40s %v\n", op, statuses)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
