package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/backupwatch/backupwatch/shared/apigw"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// v2Event builds the API Gateway HTTP API (payload 2.0) event that AWS
// sends for a request, as recorded in infra/events.
func v2Event(method, target, key string, body string, b64 bool) events.APIGatewayV2HTTPRequest {
	u, _ := url.Parse(target)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + u.Path, RawPath: u.Path, RawQueryString: u.RawQuery,
		Headers: map[string]string{"host": "api.example.com", "user-agent": "curl/8.5.0", "x-forwarded-proto": "https"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID: "123456789012", APIID: "abc123", DomainName: "api.example.com", Stage: "$default",
			RequestID: "req-" + method, TimeEpoch: 1764196455000,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: u.Path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7", UserAgent: "curl/8.5.0"},
		},
	}
	if key != "" {
		ev.Headers["authorization"] = "Bearer " + key
	}
	if body != "" {
		ev.Headers["content-type"] = "application/json"
		ev.Body = body
		if b64 {
			ev.Body = base64.StdEncoding.EncodeToString([]byte(body))
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// TestLambdaAdapterAnswersLikeHTTP sends the same requests over real HTTP and
// as v2 events through the Lambda adapter, and compares the answers.
func TestLambdaAdapterAnswersLikeHTTP(t *testing.T) {
	s := newSetup(t)
	handler := apigw.Handler(testenv.HoldToContract(t, s.Server.Handler(httpapi.AllRoutes)))
	invoke := func(method, target, key, body string, b64 bool) (int, string) {
		t.Helper()
		resp, err := handler(context.Background(), v2Event(method, target, key, body, b64))
		if err != nil {
			t.Fatalf("lambda error: %v", err)
		}
		return resp.StatusCode, resp.Body
	}
	b := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "parity.dump", 99))
	id := b["id"].(string)

	// Reads and refusals are deterministic: the bytes must match exactly.
	same := []struct {
		method, target, key, body string
	}{
		{"GET", "/v1/backups/" + id, s.job, ""},
		{"GET", "/v1/backups?tenant_id=" + s.tenant + "&status=COMPLETED,VERIFIED&limit=5", s.operator, ""},
		{"GET", "/v1/backups?limit=abc", s.operator, ""},
		{"GET", "/v1/backups/" + id, "", ""},
		{"GET", "/v1/backups/" + id, s.otherJob, ""},
		{"POST", "/v1/backups", s.job, `{"backup_type":"FULL_DATABASE"`},
		{"POST", "/v1/backups", s.job, `{"backup_type":"TENANT_BACKUP","filename":"x"}`},
		{"PATCH", "/v1/backups/" + id, s.job, `{"size_bytes":1}`},
		{"POST", "/v1/backups", s.operator, `{"backup_type":"FULL_DATABASE","filename":"x"}`},
		{"GET", "/v1/health", "", ""},
		{"GET", "/v1/nope", s.job, ""},
	}
	for _, tc := range same {
		for _, b64 := range []bool{false, true} {
			r := s.Do(t, testenv.Request{Method: tc.method, Path: tc.target, Key: tc.key, Body: nilIfEmpty(tc.body)})
			status, body := invoke(tc.method, tc.target, tc.key, tc.body, b64)
			if status != r.Status || body != string(r.Body) {
				t.Errorf("%s %s (base64 %v):\n http:   %d %s\n lambda: %d %s", tc.method, tc.target, b64, r.Status, r.Body, status, body)
			}
		}
	}

	// Writes through the adapter land like writes over HTTP.
	status, body := invoke("POST", "/v1/backups", s.job, `{"backup_type":"FULL_DATABASE","filename":"lambda.dump"}`, true)
	if status != 201 {
		t.Fatalf("create via lambda: %d %s", status, body)
	}
	var created map[string]any
	_ = json.Unmarshal([]byte(body), &created)
	lid := created["id"].(string)
	status, body = invoke("PATCH", "/v1/backups/"+lid, s.job, `{"status":"COMPLETED","size_bytes":5,"checksum":"`+testenv.Checksum("l")+`","b2_path":"b2://b/lambda.dump"}`, false)
	if status != 200 || !strings.Contains(body, `"status":"COMPLETED"`) {
		t.Fatalf("complete via lambda: %d %s", status, body)
	}
	got := s.Call(t, 200, "GET", "/v1/backups/"+lid, s.job, nil)
	if got["status"] != "COMPLETED" || got["b2_path"] != "b2://b/lambda.dump" {
		t.Errorf("HTTP sees %v", got)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
