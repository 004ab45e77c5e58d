package apigw_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/backupwatch/backupwatch/shared/apigw"
	"github.com/backupwatch/backupwatch/shared/httpapi"
)

// TestPanicRecoveredOnceOnTheLambdaPath: a handler of the real API that
// panics (here GET /v1/health on a server given no pool) is answered by the
// API's middleware, through the adapter, with one 500 in the contract's
// shape and one log line naming the panic and the request id.
func TestPanicRecoveredOnceOnTheLambdaPath(t *testing.T) {
	var logs bytes.Buffer
	api := httpapi.New(httpapi.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	h := apigw.Handler(api.Handler(httpapi.AdminRoutes))
	var ev events.APIGatewayV2HTTPRequest
	ev.RawPath = "/v1/health"
	ev.RequestContext.HTTP.Method = "GET"
	ev.RequestContext.RequestID = "req-panic"
	resp, err := h(context.Background(), ev)
	if err != nil || resp.StatusCode != 500 || resp.Body != `{"error":{"code":"internal","message":"internal error"}}` {
		t.Fatalf("response = %d %s %v", resp.StatusCode, resp.Body, err)
	}
	if n := strings.Count(logs.String(), `"panic":`); n != 1 || !strings.Contains(logs.String(), "req-panic") {
		t.Errorf("want one panic line with the request id, got:\n%s", logs.String())
	}
}
