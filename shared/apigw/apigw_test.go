package apigw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/backupwatch/backupwatch/shared/apigw"
)

// ctxKey marks the context a test invokes the Lambda handler with, so the
// echo handler can tell that it got that context.
type ctxKey struct{}

// echo is what the echo handler reports about the request it received.
type echo struct {
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	EscapedPath   string            `json:"escapedPath"`
	RequestURI    string            `json:"requestURI"`
	ID            string            `json:"id"`
	Query         url.Values        `json:"query"`
	Header        http.Header       `json:"header"`
	Cookies       map[string]string `json:"cookies"`
	Host          string            `json:"host"`
	RemoteAddr    string            `json:"remoteAddr"`
	Proto         string            `json:"proto"`
	Body          []byte            `json:"body"`
	ContentLength int64             `json:"contentLength"`
	CtxValue      string            `json:"ctxValue"`
	HasDeadline   bool              `json:"hasDeadline"`
}

// echoMux is a real ServeMux whose routes echo the request back as JSON.
func echoMux() *http.ServeMux {
	h := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			e := echo{
				Method:        r.Method,
				Path:          r.URL.Path,
				EscapedPath:   r.URL.EscapedPath(),
				RequestURI:    r.RequestURI,
				ID:            r.PathValue("id"),
				Query:         r.URL.Query(),
				Header:        r.Header,
				Cookies:       map[string]string{},
				Host:          r.Host,
				RemoteAddr:    r.RemoteAddr,
				Proto:         r.Proto,
				Body:          body,
				ContentLength: r.ContentLength,
			}
			for _, c := range r.Cookies() {
				e.Cookies[c.Name] = c.Value
			}
			e.CtxValue, _ = r.Context().Value(ctxKey{}).(string)
			_, e.HasDeadline = r.Context().Deadline()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(e)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/backups/{id}", h(http.StatusOK))
	mux.Handle("POST /v1/backups", h(http.StatusCreated))
	mux.Handle("GET /", h(http.StatusOK))
	return mux
}

// lambdaContext is a context like the one the Lambda runtime passes: it has
// a deadline, and a value the handler must see.
func lambdaContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithValue(t.Context(), ctxKey{}, "lambda"), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// loadEvent reads a testdata fixture the way the Lambda runtime does.
func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// invoke runs ev through Handler(h) after a JSON round trip of the response,
// as API Gateway would receive it.
func invoke(t *testing.T, h http.Handler, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := apigw.Handler(h)(lambdaContext(t), ev)
	if err != nil {
		t.Fatalf("Handler returned a Lambda error: %v", err)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var out events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHandlerFixtures(t *testing.T) {
	binary, _ := base64.StdEncoding.DecodeString("H4sIAAAAAAAA/wCAf/5iYWNrdXAtY2h1bmsK")
	tests := []struct {
		name        string
		fixture     string
		wantStatus  int
		want        echo              // compared field by field, Header and Cookies excepted
		wantHeader  map[string]string // header -> r.Header.Get, "" meaning absent
		wantCookies map[string]string
	}{
		{
			// A GET routed by path wildcard: the id reaches PathValue, a
			// repeated query key stays two values (from rawQueryString, not
			// the comma-joined queryStringParameters), %20 is decoded once,
			// and Host moves from the header map to r.Host.
			name:       "GET with path param and query",
			fixture:    "get-with-query.json",
			wantStatus: http.StatusOK,
			want: echo{
				Method:      "GET",
				Path:        "/v1/backups/bk_01HZX3",
				EscapedPath: "/v1/backups/bk_01HZX3",
				RequestURI:  "/v1/backups/bk_01HZX3?include=files&tag=nightly&tag=weekly&q=disk%20full",
				ID:          "bk_01HZX3",
				Query: url.Values{
					"include": {"files"},
					"tag":     {"nightly", "weekly"},
					"q":       {"disk full"},
				},
				Host:       "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
				RemoteAddr: "203.0.113.7:0",
				Proto:      "HTTP/1.1",
				Body:       []byte{},
			},
			wantHeader: map[string]string{
				"Accept":          "application/json",
				"Accept-Encoding": "gzip, deflate, br",
				"Authorization":   "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
				"X-Forwarded-For": "203.0.113.7",
				"X-Request-Id":    "YvQx1gHXDoEEMxw=",
				"Host":            "",
				"Cookie":          "",
			},
		},
		{
			// A POST with a JSON body: the body arrives byte for byte with
			// its length, and the handler's own status (201) comes back.
			name:       "POST with JSON body",
			fixture:    "post-json.json",
			wantStatus: http.StatusCreated,
			want: echo{
				Method:        "POST",
				Path:          "/v1/backups",
				EscapedPath:   "/v1/backups",
				RequestURI:    "/v1/backups",
				Query:         url.Values{},
				Host:          "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
				RemoteAddr:    "198.51.100.23:0",
				Proto:         "HTTP/1.1",
				Body:          []byte(`{"source":"db-prod","sizeBytes":1048576,"status":"succeeded"}`),
				ContentLength: 61,
			},
			wantHeader: map[string]string{
				"Content-Type":    "application/json",
				"Content-Length":  "61",
				"Idempotency-Key": "9f6c1f0e-4b7a-4c1e-9d2a-6b1f3c2e8a10",
				"X-Request-Id":    "YvQx5hKcjoEEJ2g=",
			},
		},
		{
			// A POST whose body API Gateway base64-encoded: the handler
			// reads the decoded bytes; the client's own X-Request-Id wins
			// over the API Gateway request id; an IPv6 source is bracketed.
			name:       "POST with base64 body",
			fixture:    "post-base64.json",
			wantStatus: http.StatusCreated,
			want: echo{
				Method:        "POST",
				Path:          "/v1/backups",
				EscapedPath:   "/v1/backups",
				RequestURI:    "/v1/backups",
				Query:         url.Values{},
				Host:          "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
				RemoteAddr:    "[2001:db8::17]:0",
				Proto:         "HTTP/1.1",
				Body:          binary,
				ContentLength: int64(len(binary)),
			},
			wantHeader: map[string]string{
				"Content-Type":   "application/octet-stream",
				"Content-Length": "27",
				"X-Request-Id":   "client-req-7781",
			},
		},
		{
			// Cookies come back as one Cookie header that r.Cookies parses;
			// headers API Gateway joined with commas stay joined; a custom
			// domain is the Host.
			name:       "cookies and multi-valued headers",
			fixture:    "cookies-multiheader.json",
			wantStatus: http.StatusOK,
			want: echo{
				Method:      "GET",
				Path:        "/v1/backups/bk_7",
				EscapedPath: "/v1/backups/bk_7",
				RequestURI:  "/v1/backups/bk_7",
				ID:          "bk_7",
				Query:       url.Values{},
				Host:        "api.backupwatch.example",
				RemoteAddr:  "203.0.113.99:0",
				Proto:       "HTTP/1.1",
				Body:        []byte{},
			},
			wantHeader: map[string]string{
				"Cookie":            "session=s%3Aabc123; theme=dark",
				"Accept":            "text/html,application/json;q=0.9",
				"X-Forwarded-For":   "192.0.2.10, 203.0.113.99",
				"X-Backupwatch-Tag": "red,blue",
				"X-Request-Id":      "YvQx9kM5DoEEMbB=",
			},
			wantCookies: map[string]string{"session": "s%3Aabc123", "theme": "dark"},
		},
		{
			// A named stage's segment (/prod) is stripped from rawPath so the
			// route matches as it does locally.
			name:       "named stage",
			fixture:    "named-stage.json",
			wantStatus: http.StatusOK,
			want: echo{
				Method:      "GET",
				Path:        "/v1/backups/bk_9",
				EscapedPath: "/v1/backups/bk_9",
				RequestURI:  "/v1/backups/bk_9?verbose=1",
				ID:          "bk_9",
				Query:       url.Values{"verbose": {"1"}},
				Host:        "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
				RemoteAddr:  "203.0.113.7:0",
				Proto:       "HTTP/1.1",
				Body:        []byte{},
			},
			wantHeader: map[string]string{"X-Request-Id": "YvQyAlN8DoEEMcC="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invoke(t, echoMux(), loadEvent(t, tt.fixture))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			if resp.IsBase64Encoded {
				t.Fatalf("JSON response was base64-encoded")
			}
			if ct := resp.Headers["Content-Type"]; ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got echo
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
				t.Fatalf("body %q: %v", resp.Body, err)
			}

			if got.CtxValue != "lambda" || !got.HasDeadline {
				t.Errorf("handler context: value %q, deadline %v; want the Lambda context", got.CtxValue, got.HasDeadline)
			}
			for k, want := range tt.wantHeader {
				if v := got.Header.Get(k); v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			if got.Header.Get("User-Agent") == "" || got.Header.Get("X-Amzn-Trace-Id") == "" {
				t.Errorf("headers lost: %v", got.Header)
			}
			if tt.wantCookies == nil {
				tt.wantCookies = map[string]string{}
			}
			if !maps.Equal(got.Cookies, tt.wantCookies) {
				t.Errorf("cookies = %v, want %v", got.Cookies, tt.wantCookies)
			}

			got.Header, got.Cookies, got.CtxValue, got.HasDeadline = nil, nil, "", false
			if got.Body == nil {
				got.Body = []byte{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("request seen by the handler:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	base := func() events.APIGatewayV2HTTPRequest {
		var ev events.APIGatewayV2HTTPRequest
		ev.RequestContext.HTTP.Method = "GET"
		ev.RequestContext.Stage = "$default"
		ev.RequestContext.RequestID = "req-1"
		ev.RequestContext.DomainName = "api.example.com"
		ev.RequestContext.HTTP.SourceIP = "192.0.2.1"
		return ev
	}
	tests := []struct {
		name   string
		edit   func(ev *events.APIGatewayV2HTTPRequest)
		check  func(t *testing.T, r *http.Request)
		wantID string // r.PathValue("id") without any mux
	}{
		{
			// The stage alone is the root.
			name: "stage root",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RequestContext.Stage = "prod"
				ev.RawPath = "/prod"
			},
			check: wantPath("/", "/"),
		},
		{
			// A segment that only starts with the stage name is not the stage.
			name: "stage prefix of a longer segment",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RequestContext.Stage = "prod"
				ev.RawPath = "/production/x"
			},
			check: wantPath("/production/x", "/production/x"),
		},
		{
			// The stage is stripped once: a route may itself start with it.
			name: "stage named like the first route segment",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RequestContext.Stage = "v1"
				ev.RawPath = "/v1/v1/backups"
			},
			check: wantPath("/v1/backups", "/v1/backups"),
		},
		{
			// Under $default nothing is stripped, even a "$default" segment.
			name: "default stage keeps path",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RawPath = "/$default/x"
			},
			check: wantPath("/$default/x", "/$default/x"),
		},
		{
			// Without rawPath the path comes from requestContext.http.path,
			// stage stripped too.
			name: "fallback to http.path",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RequestContext.Stage = "dev"
				ev.RequestContext.HTTP.Path = "/dev/v1/backups"
			},
			check: wantPath("/v1/backups", "/v1/backups"),
		},
		{
			// No path at all is the root.
			name:  "empty path",
			edit:  func(ev *events.APIGatewayV2HTTPRequest) {},
			check: wantPath("/", "/"),
		},
		{
			// API Gateway decodes rawPath: a decoded space, '?' and '%' are
			// path characters, re-escaped rather than decoded again or split
			// off as a query.
			name: "decoded rawPath is not decoded twice",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RawPath = "/v1/backups/a b?c%41"
				ev.RawQueryString = "x=1"
			},
			check: func(t *testing.T, r *http.Request) {
				wantPath("/v1/backups/a b?c%41", "/v1/backups/a%20b%3Fc%2541")(t, r)
				if r.URL.RawQuery != "x=1" {
					t.Errorf("RawQuery = %q, want x=1", r.URL.RawQuery)
				}
			},
		},
		{
			// Without rawQueryString the query is rebuilt from the
			// parameters; a comma-joined repeat stays one value.
			name: "fallback to queryStringParameters",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.QueryStringParameters = map[string]string{"tag": "a,b", "q": "x y"}
			},
			check: func(t *testing.T, r *http.Request) {
				want := url.Values{"tag": {"a,b"}, "q": {"x y"}}
				if got := r.URL.Query(); !reflect.DeepEqual(got, want) {
					t.Errorf("query = %v, want %v", got, want)
				}
			},
		},
		{
			// No host header: Host is the API's domain name; no client
			// request id: X-Request-Id is API Gateway's; no body: NoBody.
			name: "defaults from the request context",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {},
			check: func(t *testing.T, r *http.Request) {
				if r.Host != "api.example.com" {
					t.Errorf("Host = %q", r.Host)
				}
				if v := r.Header.Get("X-Request-Id"); v != "req-1" {
					t.Errorf("X-Request-Id = %q", v)
				}
				if r.RemoteAddr != "192.0.2.1:0" {
					t.Errorf("RemoteAddr = %q", r.RemoteAddr)
				}
				if r.Body != http.NoBody || r.ContentLength != 0 {
					t.Errorf("Body = %v, ContentLength = %d", r.Body, r.ContentLength)
				}
				if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
					t.Errorf("proto = %s", r.Proto)
				}
			},
		},
		{
			// An empty method is GET, as in net/http.
			name: "empty method",
			edit: func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "" },
			check: func(t *testing.T, r *http.Request) {
				if r.Method != "GET" {
					t.Errorf("Method = %q", r.Method)
				}
			},
		},
		{
			// ev.Cookies replace a cookie header, which API Gateway never
			// sends alongside them.
			name: "cookies win over a cookie header",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.Headers = map[string]string{"cookie": "old=1"}
				ev.Cookies = []string{"a=1", "b=2"}
			},
			check: func(t *testing.T, r *http.Request) {
				if got := r.Header.Values("Cookie"); !slices.Equal(got, []string{"a=1; b=2"}) {
					t.Errorf("Cookie = %q", got)
				}
			},
		},
		{
			// A chunked upload arrives whole: Transfer-Encoding is dropped and
			// a Content-Length header matches the decoded body.
			name: "content length follows the decoded body",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RequestContext.HTTP.Method = "PUT"
				ev.Headers = map[string]string{"transfer-encoding": "chunked", "content-length": "999"}
				ev.Body = base64.StdEncoding.EncodeToString([]byte("hello"))
				ev.IsBase64Encoded = true
			},
			check: func(t *testing.T, r *http.Request) {
				if r.ContentLength != 5 || r.Header.Get("Content-Length") != "5" || r.Header.Get("Transfer-Encoding") != "" {
					t.Errorf("ContentLength %d, headers %v", r.ContentLength, r.Header)
				}
				if b, _ := io.ReadAll(r.Body); string(b) != "hello" {
					t.Errorf("body = %q", b)
				}
			},
		},
		{
			// API Gateway's path parameters are path values for a handler
			// that does no routing of its own.
			name: "path parameters without a mux",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RawPath = "/v1/backups/bk_1"
				ev.PathParameters = map[string]string{"id": "bk_1"}
			},
			check:  wantPath("/v1/backups/bk_1", "/v1/backups/bk_1"),
			wantID: "bk_1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := base()
			tt.edit(&ev)
			ctx := lambdaContext(t)
			r, err := apigw.Request(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if r.Context() != ctx {
				t.Errorf("request context is not the Lambda context")
			}
			if got := r.PathValue("id"); got != tt.wantID {
				t.Errorf("PathValue(id) = %q, want %q", got, tt.wantID)
			}
			tt.check(t, r)
		})
	}
}

// wantPath checks the decoded and escaped path of a request.
func wantPath(path, escaped string) func(t *testing.T, r *http.Request) {
	return func(t *testing.T, r *http.Request) {
		t.Helper()
		if r.URL.Path != path || r.URL.EscapedPath() != escaped {
			t.Errorf("path = %q (escaped %q), want %q (%q)", r.URL.Path, r.URL.EscapedPath(), path, escaped)
		}
	}
}

func TestResponse(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
	tests := []struct {
		name        string
		method      string // default GET
		handler     http.HandlerFunc
		wantStatus  int
		wantHeaders map[string]string // subset of the response headers; "" meaning absent
		wantCookies []string
		wantBody    string // decoded when base64
		wantBase64  bool
	}{
		{
			// A handler that writes nothing is a 200 with an empty body.
			name:       "nothing written",
			handler:    func(w http.ResponseWriter, r *http.Request) {},
			wantStatus: http.StatusOK,
		},
		{
			// Status and headers pass through; a repeated header is joined
			// with ", "; every Set-Cookie goes to cookies, not headers.
			name: "status headers and cookies",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Add("Vary", "Accept")
				w.Header().Add("Vary", "Authorization")
				w.Header().Set("Location", "/v1/backups/bk_1")
				http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc", HttpOnly: true, Path: "/"})
				http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark"})
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `{"id":"bk_1"}`)
			},
			wantStatus: http.StatusCreated,
			wantHeaders: map[string]string{
				"Content-Type": "application/json",
				"Vary":         "Accept, Authorization",
				"Location":     "/v1/backups/bk_1",
				"Set-Cookie":   "",
			},
			wantCookies: []string{"session=abc; Path=/; HttpOnly", "theme=dark"},
			wantBody:    `{"id":"bk_1"}`,
		},
		{
			// The first WriteHeader wins; header changes after it are not sent.
			name: "first WriteHeader wins",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusAccepted)
				w.Header().Set("X-Late", "1")
				w.Header().Set("Content-Type", "image/png")
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, "queued")
			},
			wantStatus:  http.StatusAccepted,
			wantHeaders: map[string]string{"Content-Type": "text/plain", "X-Late": ""},
			wantBody:    "queued",
		},
		{
			// Write without WriteHeader is a 200, and the headers are frozen
			// at that first Write.
			name: "Write implies 200",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/csv; charset=utf-8")
				io.WriteString(w, "a,b\n")
				w.WriteHeader(http.StatusTeapot)
				w.Header().Set("X-Late", "1")
				io.WriteString(w, "1,2\n")
			},
			wantStatus:  http.StatusOK,
			wantHeaders: map[string]string{"Content-Type": "text/csv; charset=utf-8", "X-Late": ""},
			wantBody:    "a,b\n1,2\n",
		},
		{
			// A binary body is base64-encoded.
			name: "binary body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "image/png")
				w.Write(png)
			},
			wantStatus:  http.StatusOK,
			wantHeaders: map[string]string{"Content-Type": "image/png"},
			wantBody:    string(png),
			wantBase64:  true,
		},
		{
			// application/*+json is text.
			name: "problem+json is text",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusConflict)
				io.WriteString(w, `{"title":"conflict"}`)
			},
			wantStatus: http.StatusConflict,
			wantBody:   `{"title":"conflict"}`,
		},
		{
			// Text that is not UTF-8 would be mangled in the JSON response,
			// so it travels base64-encoded.
			name: "non-UTF-8 text",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
				io.WriteString(w, "caf\xe9")
			},
			wantStatus: http.StatusOK,
			wantBody:   "caf\xe9",
			wantBase64: true,
		},
		{
			// Without a Content-Type one is sniffed, as net/http does.
			name: "sniffed content type",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<!DOCTYPE html><p>hi</p>")
			},
			wantStatus:  http.StatusOK,
			wantHeaders: map[string]string{"Content-Type": "text/html; charset=utf-8"},
			wantBody:    "<!DOCTYPE html><p>hi</p>",
		},
		{
			// A 204 has no body: Write fails as in net/http.
			name: "no content",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
				if _, err := io.WriteString(w, "x"); err != http.ErrBodyNotAllowed {
					panic("Write after 204: " + err.Error())
				}
			},
			wantStatus: http.StatusNoContent,
		},
		{
			// An informational status is not final: the later one counts.
			name: "1xx is not final",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusEarlyHints)
				w.WriteHeader(http.StatusAccepted)
			},
			wantStatus: http.StatusAccepted,
		},
		{
			// A HEAD response keeps its headers but not its body.
			name:   "HEAD",
			method: http.MethodHead,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, "body")
			},
			wantStatus:  http.StatusOK,
			wantHeaders: map[string]string{"Content-Type": "text/plain"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev events.APIGatewayV2HTTPRequest
			ev.RawPath = "/"
			ev.RequestContext.HTTP.Method = cmpOr(tt.method, "GET")
			resp := invoke(t, tt.handler, ev)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			for k, want := range tt.wantHeaders {
				if got := resp.Headers[k]; got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if !slices.Equal(resp.Cookies, tt.wantCookies) {
				t.Errorf("cookies = %q, want %q", resp.Cookies, tt.wantCookies)
			}
			if resp.IsBase64Encoded != tt.wantBase64 {
				t.Errorf("isBase64Encoded = %v, want %v", resp.IsBase64Encoded, tt.wantBase64)
			}
			body := resp.Body
			if resp.IsBase64Encoded {
				b, err := base64.StdEncoding.DecodeString(body)
				if err != nil {
					t.Fatal(err)
				}
				body = string(b)
			}
			if body != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestHandlerErrors(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(ev *events.APIGatewayV2HTTPRequest)
		handler    http.HandlerFunc
		wantStatus int
		wantBody   string
		wantLog    []string // substrings of the log output
		notLog     string   // must not be in the client's response
	}{
		{
			// A body flagged base64 that is not is the client's fault: a 400
			// response, not a Lambda error, and the handler never runs.
			name: "invalid base64 body",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RequestContext.HTTP.Method = "POST"
				ev.Body = "not base64!!"
				ev.IsBase64Encoded = true
			},
			handler:    func(w http.ResponseWriter, r *http.Request) { panic("handler ran") },
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":{"code":"bad_request","message":"request body is not valid base64"}}`,
			wantLog:    []string{"bad request", "req-err"},
		},
		{
			// A method net/http would refuse is refused the same way.
			name: "invalid method",
			edit: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RequestContext.HTTP.Method = "GE T"
			},
			handler:    func(w http.ResponseWriter, r *http.Request) { panic("handler ran") },
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":{"code":"bad_request","message":"request method is not valid"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			old := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
			t.Cleanup(func() { slog.SetDefault(old) })

			var ev events.APIGatewayV2HTTPRequest
			ev.RawPath = "/v1/backups"
			ev.RequestContext.HTTP.Method = "GET"
			ev.RequestContext.RequestID = "req-err"
			tt.edit(&ev)
			resp := invoke(t, tt.handler, ev)

			if resp.StatusCode != tt.wantStatus || resp.Body != tt.wantBody {
				t.Errorf("response = %d %s, want %d %s", resp.StatusCode, resp.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := resp.Headers["Content-Type"]; ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if resp.Headers["X-Partial"] != "" {
				t.Errorf("partial response leaked: %v", resp.Headers)
			}
			for _, s := range tt.wantLog {
				if !strings.Contains(logs.String(), s) {
					t.Errorf("log lacks %q:\n%s", s, logs.String())
				}
			}
			if tt.notLog != "" && strings.Contains(resp.Body, tt.notLog) {
				t.Errorf("response leaks %q: %s", tt.notLog, resp.Body)
			}
		})
	}
}

func FuzzRequest(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	f.Cleanup(func() { slog.SetDefault(old) })
	mux := echoMux()

	f.Fuzz(func(t *testing.T, data []byte) {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Skip()
		}
		ctx := context.WithValue(context.Background(), ctxKey{}, "lambda")

		r, err := apigw.Request(ctx, ev)
		if err == nil {
			if !strings.HasPrefix(r.URL.Path, "/") {
				t.Errorf("path %q does not start with /", r.URL.Path)
			}
			if r.Context() != ctx || r.Body == nil || r.Header == nil {
				t.Errorf("malformed request %+v", r)
			}
		} else if !ev.IsBase64Encoded && isToken(ev.RequestContext.HTTP.Method) {
			t.Errorf("Request: %v", err)
		}

		resp, err := apigw.Handler(mux)(ctx, ev)
		if err != nil {
			t.Fatalf("Handler returned a Lambda error: %v", err)
		}
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			t.Fatalf("status %d out of range", resp.StatusCode)
		}
		if resp.IsBase64Encoded {
			if _, err := base64.StdEncoding.DecodeString(resp.Body); err != nil {
				t.Fatalf("invalid base64 response body: %v", err)
			}
		}
	})
}

// isToken reports whether method is empty (GET) or an HTTP token.
func isToken(method string) bool {
	for _, c := range []byte(method) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// TestPanicIsNotRecoveredHere: the Lambda request path recovers panics in
// one place, the HTTP API's middleware; the adapter lets a panic through
// (to aws-lambda-go, which fails the invocation) rather than answer for it
// a second time.
func TestPanicIsNotRecoveredHere(t *testing.T) {
	h := apigw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	var ev events.APIGatewayV2HTTPRequest
	ev.RawPath = "/v1/backups"
	ev.RequestContext.HTTP.Method = "GET"
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v, want the handler's panic", p)
		}
	}()
	resp, err := h(context.Background(), ev)
	t.Errorf("the adapter answered a panicking handler: %d %s %v", resp.StatusCode, resp.Body, err)
}
