// Package apigw serves a plain net/http handler from an AWS Lambda function
// invoked by an API Gateway HTTP API with payload format 2.0, so that the same
// handlers run locally behind net/http and in Lambda.
//
// Handler turns each event into the *http.Request that net/http would have
// built for the same call, runs the handler against an in-memory
// http.ResponseWriter, and turns what it wrote into the response API Gateway
// expects. A malformed event is a 400 in the API's JSON error shape, never a
// Lambda error.
//
// Panics are not recovered here. The Lambda request path has one recovery,
// in the HTTP API's request middleware (shared/httpapi, logged), which both
// front doors share: it answers a 500 in the contract's shape and logs the
// panic with the request id. A panic outside it (in this adapter) reaches
// aws-lambda-go, which reports the invocation failed and ends the container.
//
// What API Gateway does to a request before the Lambda sees it, and how this
// package undoes it:
//
//   - A named stage (anything but $default) is the first segment of rawPath;
//     it is stripped, so handlers route the same whatever the stage.
//   - rawPath arrives percent-decoded (a client's /a%20b is /a b), so it is
//     taken as the decoded path and re-escaped by net/url, never decoded a
//     second time. An encoded slash (%2F) is indistinguishable from a real one.
//   - Repeated headers and repeated entries of queryStringParameters are
//     joined with commas; headers are kept joined (as HTTP allows), and the
//     query comes from rawQueryString, which keeps them apart.
//   - Cookies arrive apart from the headers; they are put back into a single
//     Cookie header.
//   - The client's port is not known; RemoteAddr is sourceIp with port 0.
//
// Why not github.com/awslabs/aws-lambda-go-api-proxy: its httpadapter.NewV2
// (v0.16.2, tried for issue 13) answers the recorded events of infra/events
// correctly and costs no bootstrap size, but fails most of this package's
// cases, every recorded event of testdata/ among them:
//
//   - testdata/named-stage.json: rawPath "/prod/v1/backups/bk_9" reaches the
//     handler as /prod/v1/backups/bk_9 (the stage of requestContext.stage is
//     not stripped; StripBasePath needs it fixed ahead), so the route 404s.
//   - testdata/get-with-query.json, post-json.json, cookies-multiheader.json,
//     named-stage.json: requestContext.requestId is not passed on
//     (X-Request-Id), so log lines lose API Gateway's request id; headers
//     such as accept-encoding "gzip, deflate, br" are split at commas.
//   - testdata/cookies-multiheader.json: the two entries of "cookies" become
//     two Cookie headers, so Header.Get("Cookie") sees only the first.
//   - every event (testdata/post-base64.json fails on this alone):
//     RemoteAddr is sourceIp without a port, where net/http's is host:port
//     ("[2001:db8::17]:0" here), which net.SplitHostPort refuses.
//   - a decoded rawPath is parsed as a URL a second time: one holding "?"
//     (a client's %3F) is cut there and the rest taken as query.
//   - a handler that writes nothing gives a Lambda error ("Status code not
//     set on response") instead of net/http's 200; a late WriteHeader or a
//     header set after the first write changes the response; a body after a
//     204 is accepted; a body that is not valid base64 is a Lambda error
//     (API Gateway: 500), not a 400.
//   - it reports those errors with fmt.Printf and log.Println, plain text
//     lines among the function's JSON log.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// defaultStage is the stage API Gateway serves at the root of the API, with no
// stage segment in the path.
const defaultStage = "$default"

// badRequestError is an event that cannot be turned into a request because of
// what the client sent; Handler answers it with a 400 carrying msg.
type badRequestError struct{ msg string }

func (e *badRequestError) Error() string { return e.msg }

// Handler adapts h to a Lambda handler for API Gateway HTTP API v2 events.
//
// The returned function never returns an error: a body that is not valid
// base64 (or a method that is not an HTTP token) is answered with a 400 as
// {"error":{"code":...,"message":...}}. A panic in h is h's to recover (see
// the package comment).
func Handler(h http.Handler) func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ctx == nil {
			ctx = context.Background()
		}
		req, err := Request(ctx, ev)
		if err != nil {
			var bad *badRequestError
			if errors.As(err, &bad) {
				slog.WarnContext(ctx, "apigw: bad request",
					"error", err, "request_id", ev.RequestContext.RequestID)
				return errorResponse(http.StatusBadRequest, "bad_request", bad.msg), nil
			}
			slog.ErrorContext(ctx, "apigw: cannot build request",
				"error", err, "request_id", ev.RequestContext.RequestID)
			return errorResponse(http.StatusInternalServerError, "internal", "internal error"), nil
		}
		w := newResponseWriter(req.Method == http.MethodHead)
		h.ServeHTTP(w, req)
		return w.response(), nil
	}
}

// Request builds the *http.Request that h sees for ev (exported for tests and
// fuzzing). It is shaped like a request net/http's server hands a handler:
// Host promoted out of the header map, RequestURI set, Body never nil. Its
// context is ctx.
//
// The only errors are a body that is not valid base64 when ev.IsBase64Encoded
// is set, and a method that is not an HTTP token; an empty method is GET.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	rc := ev.RequestContext

	method := rc.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	if !isToken(method) {
		return nil, &badRequestError{msg: "request method is not valid"}
	}

	var body []byte
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, &badRequestError{msg: "request body is not valid base64"}
		}
		body = b
	} else {
		body = []byte(ev.Body)
	}

	u := &url.URL{
		// rawPath is already decoded by API Gateway: keep it as the decoded
		// path and let net/url escape it, rather than decode it twice.
		Path:     requestPath(ev),
		RawQuery: rawQuery(ev),
	}

	proto := rc.HTTP.Protocol
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		proto, major, minor = "HTTP/1.1", 1, 1
	}

	header := make(http.Header, len(ev.Headers)+2)
	// Sorted so that keys differing only in case (which API Gateway never
	// sends, since it lowercases them) merge in a stable order.
	keys := make([]string, 0, len(ev.Headers))
	for k := range ev.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		header.Add(k, ev.Headers[k])
	}
	if len(ev.Cookies) > 0 {
		header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	if header.Get("X-Request-Id") == "" && rc.RequestID != "" {
		header.Set("X-Request-Id", rc.RequestID)
	}
	host := header.Get("Host")
	header.Del("Host")
	if host == "" {
		host = rc.DomainName
	}
	// API Gateway hands over the whole body, so any chunking is undone and
	// the length is known.
	header.Del("Transfer-Encoding")
	if _, ok := header["Content-Length"]; ok {
		header.Set("Content-Length", strconv.Itoa(len(body)))
	}

	var reqBody io.ReadCloser = http.NoBody
	if len(body) > 0 {
		reqBody = io.NopCloser(bytes.NewReader(body))
	}

	var remote string
	if rc.HTTP.SourceIP != "" {
		remote = net.JoinHostPort(rc.HTTP.SourceIP, "0")
	}

	req := &http.Request{
		Method:        method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        header,
		Body:          reqBody,
		ContentLength: int64(len(body)),
		Host:          host,
		RemoteAddr:    remote,
		RequestURI:    u.RequestURI(),
	}
	req = req.WithContext(ctx)
	// API Gateway may have routed the request itself ("GET /v1/x/{id}");
	// expose its path parameters to a handler that is not a ServeMux. A
	// ServeMux's own wildcards take precedence over these.
	for k, v := range ev.PathParameters {
		req.SetPathValue(k, v)
	}
	return req, nil
}

// requestPath is the event's path without a named stage's leading segment,
// always starting with a slash.
func requestPath(ev events.APIGatewayV2HTTPRequest) string {
	p := ev.RawPath
	if p == "" {
		p = ev.RequestContext.HTTP.Path
	}
	if stage := ev.RequestContext.Stage; stage != "" && stage != defaultStage {
		prefix := "/" + stage
		if p == prefix {
			p = "/"
		} else if strings.HasPrefix(p, prefix+"/") {
			p = p[len(prefix):]
		}
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// rawQuery is the event's query string. Without rawQueryString it is rebuilt
// from queryStringParameters, where API Gateway has already joined repeated
// keys with commas: those come back as one comma-joined value, since a comma
// inside a value cannot be told from a join.
func rawQuery(ev events.APIGatewayV2HTTPRequest) string {
	if ev.RawQueryString != "" || len(ev.QueryStringParameters) == 0 {
		return ev.RawQueryString
	}
	v := make(url.Values, len(ev.QueryStringParameters))
	for k, s := range ev.QueryStringParameters {
		v.Set(k, s)
	}
	return v.Encode()
}

// isToken reports whether s is an RFC 9110 token, as a method must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// errorBody is the API's error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorResponse is a JSON error response in the API's error shape.
func errorResponse(status int, code, message string) events.APIGatewayV2HTTPResponse {
	var b errorBody
	b.Error.Code = code
	b.Error.Message = message
	js, _ := json.Marshal(b) // cannot fail: two strings
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(js),
	}
}

// responseWriter is an in-memory http.ResponseWriter with net/http's header
// semantics: the first final WriteHeader wins, Write without one implies 200,
// and Header changes after the header is written are not sent.
type responseWriter struct {
	header  http.Header
	sent    http.Header // snapshot of header at WriteHeader; nil until then
	status  int
	body    bytes.Buffer
	discard bool // HEAD: the body is counted as written but not kept
}

func newResponseWriter(head bool) *responseWriter {
	return &responseWriter{header: make(http.Header), discard: head}
}

// Header returns the header map that WriteHeader will send.
func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader records the status and freezes the headers, like net/http: an
// informational status other than 101 is ignored (it cannot be sent through
// API Gateway), later calls are ignored, and a code outside 100-999 panics.
func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.sent != nil {
		return
	}
	if code <= 199 && code != http.StatusSwitchingProtocols {
		return
	}
	w.status = code
	w.sent = w.header.Clone()
	if w.sent == nil {
		w.sent = http.Header{}
	}
}

// Write buffers p, writing a 200 header first if none was written. Like
// net/http, it refuses a body for statuses that cannot have one.
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.sent == nil {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.discard {
		return len(p), nil
	}
	return w.body.Write(p)
}

// Flush writes the header if it has not been; the body is sent when the
// handler returns, as API Gateway buffers it anyway.
func (w *responseWriter) Flush() {
	if w.sent == nil {
		w.WriteHeader(http.StatusOK)
	}
}

// bodyAllowed reports whether a response with status may have a body.
func bodyAllowed(status int) bool {
	return (status < 100 || status > 199) && status != http.StatusNoContent && status != http.StatusNotModified
}

// response is what the handler wrote, as API Gateway wants it.
func (w *responseWriter) response() events.APIGatewayV2HTTPResponse {
	if w.sent == nil { // the handler returned without writing anything
		w.WriteHeader(http.StatusOK)
	}
	h := w.sent
	body := w.body.Bytes()
	// net/http sniffs a Content-Type when the handler sets none (and has not
	// suppressed it with a nil value); do the same so that a handler's
	// responses look alike locally and in Lambda.
	if _, ok := h["Content-Type"]; !ok && len(body) > 0 {
		h.Set("Content-Type", http.DetectContentType(body))
	}

	resp := events.APIGatewayV2HTTPResponse{
		StatusCode: w.status,
		Headers:    make(map[string]string, len(h)),
	}
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ", ")
	}

	switch {
	case len(body) == 0:
	case isTextual(h.Get("Content-Type")) && utf8.Valid(body):
		resp.Body = string(body)
	default:
		// Binary, or text that is not UTF-8 and would be mangled by the JSON
		// encoding of the response.
		resp.Body = base64.StdEncoding.EncodeToString(body)
		resp.IsBase64Encoded = true
	}
	return resp
}

// isTextual reports whether a body of media type ct can travel as a string.
func isTextual(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "application/json", mt == "application/xml", mt == "application/javascript":
		return true
	case strings.HasPrefix(mt, "application/") && (strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")):
		return true
	}
	return false
}
