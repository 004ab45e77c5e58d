package functions_test

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestConsoleFunctionUnderEmulator signs in to the console through its
// real bootstrap under the Lambda runtime interface emulator: the sign-in
// form, the form's POST with its cookie, the status page with the session
// cookie, as API Gateway passes them (cookies apart from the headers).
func TestConsoleFunctionUnderEmulator(t *testing.T) {
	db := testenv.NewDB(t)
	key := db.AdminKey(t)
	bin := testenv.BuildFunction(t, "console")
	if fi, err := os.Stat(bin); err == nil {
		t.Logf("console bootstrap: %.1f MB", float64(fi.Size())/(1<<20))
	}
	l := testenv.StartLambda(t, bin, map[string]string{"DATABASE_URL": db.AppURL, "LOG_LEVEL": "info"})
	invoke := func(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
		t.Helper()
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(l.Invoke(t, ev), &resp); err != nil || resp.StatusCode == 0 {
			t.Fatalf("not an API Gateway response: %v\n%s", err, l.Output())
		}
		return resp
	}
	cookie := func(resp events.APIGatewayV2HTTPResponse, name string) string {
		for _, c := range resp.Cookies {
			if strings.HasPrefix(c, name+"=") {
				if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") || !strings.Contains(c, "Secure") {
					t.Errorf("cookie %s lacks HttpOnly, SameSite=Strict or Secure (the request came over HTTPS): %s", name, c)
				}
				return strings.SplitN(strings.TrimPrefix(c, name+"="), ";", 2)[0]
			}
		}
		t.Fatalf("no %s cookie in %v", name, resp.Cookies)
		return ""
	}

	form := event(t, "console-signin-form.json", "")
	resp := invoke(form)
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `action="/console/"`) || resp.Headers["X-Frame-Options"] != "DENY" {
		t.Fatalf("sign-in form: %d %v\n%s", resp.StatusCode, resp.Headers, resp.Body)
	}
	signin := cookie(resp, "bw_signin")
	csrf := between(resp.Body, `name="csrf" value="`, `"`)

	post := event(t, "console-signin-form.json", "")
	post.RequestContext.HTTP.Method = "POST"
	post.Headers["content-type"] = "application/x-www-form-urlencoded"
	post.Cookies = []string{"bw_signin=" + signin}
	post.Body = url.Values{"csrf": {csrf}, "key": {key}}.Encode()
	resp = invoke(post)
	if resp.StatusCode != 303 || resp.Headers["Location"] != "/console/status" {
		t.Fatalf("sign in: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	session := cookie(resp, "bw_session")

	status := event(t, "console-signin-form.json", "")
	status.RawPath, status.RequestContext.HTTP.Path = "/console/status", "/console/status"
	status.Cookies = []string{"bw_session=" + session}
	resp = invoke(status)
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, "<h1>Status</h1>") || !strings.Contains(resp.Headers["Content-Security-Policy"], "default-src 'none'") {
		t.Errorf("status page: %d %v\n%s", resp.StatusCode, resp.Headers, resp.Body)
	}
	status.Cookies = nil
	if resp = invoke(status); resp.StatusCode != 303 || !strings.HasPrefix(resp.Headers["Location"], "/console/?next=") {
		t.Errorf("status page without a session: %d %v", resp.StatusCode, resp.Headers)
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	return s[:strings.Index(s, to)]
}
