package testenv

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// breaches is a testing.TB that keeps what the contract check reports.
type breaches struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (b *breaches) Errorf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, fmt.Sprintf(format, args...))
}

// TestContractCatchesBreaches: the check that wraps the HTTP tests fails
// them on a response that breaks the document, on a request the document
// rejects that the service accepted, and on a route the document lacks;
// an exchange that keeps to it passes.
func TestContractCatchesBreaches(t *testing.T) {
	answer := func(status int, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		})
	}
	cases := []struct {
		name    string
		handler http.Handler
		method  string
		path    string
		key     bool
		body    string
		breach  string // "" for none
	}{
		{"kept", answer(200, `{"status":"ok","database":"ok"}`), "GET", "/v1/health", false, "", ""},
		{"field renamed", answer(200, `{"status":"ok","db":"ok"}`), "GET", "/v1/health", false, "", "breaks the document"},
		{"status not listed", answer(201, `{"status":"ok","database":"ok"}`), "GET", "/v1/health", false, "", "breaks the document"},
		{"error shape", answer(404, `{"code":"not_found"}`), "GET", "/v1/tenants/8a4e0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b", true, "", "breaks the document"},
		{"no key accepted", answer(200, `{"items":[],"next_cursor":null}`), "GET", "/v1/tenants", false, "", "the document rejects"},
		{"unknown field accepted", answer(201, `{"id":"8a4e0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b","name":"A","slug":"a","created_at":"2026-11-26T22:34:15Z"}`),
			"POST", "/v1/tenants", true, `{"name":"A","slug":"a","colour":"red"}`, "the document rejects"},
		{"unknown field refused", answer(422, `{"error":{"code":"validation_failed","message":"no"}}`),
			"POST", "/v1/tenants", true, `{"name":"A","slug":"a","colour":"red"}`, ""},
		{"no such operation", answer(200, `{}`), "GET", "/v1/nowhere", true, "", "no operation of the document"},
		{"no such operation, 404", answer(404, `{"error":{"code":"not_found","message":"route not found"}}`), "GET", "/v1/nowhere", true, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := &breaches{TB: t}
			srv := httptest.NewServer(HoldToContract(got, c.handler))
			defer srv.Close()
			req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if c.key {
				req.Header.Set("Authorization", "Bearer bw_test")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			srv.Close()
			all := strings.Join(got.errs, "\n")
			switch {
			case c.breach == "" && len(got.errs) > 0:
				t.Errorf("a kept exchange was reported: %s", all)
			case c.breach != "" && !strings.Contains(all, c.breach):
				t.Errorf("want a breach %q, got %q", c.breach, all)
			}
		})
	}
}

// TestContractTransportOutlivesItsTest: a client's transport fails its test
// with a breach made while the test runs; one made after the test ended (a
// goroutine the test left behind) is dropped, not a panic that would end
// the whole test binary.
func TestContractTransportOutlivesItsTest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","db":"ok"}`)) // "database" renamed: a breach
	}))
	defer srv.Close()
	get := func(c *http.Client) {
		t.Helper()
		resp, err := c.Get(srv.URL + "/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var got *breaches
	var late *http.Client
	t.Run("client", func(t *testing.T) {
		got = &breaches{TB: t}
		get(&http.Client{Transport: ContractTransport(got, nil)})
		late = &http.Client{Transport: ContractTransport(t, nil)}
	})
	if !strings.Contains(strings.Join(got.errs, "\n"), "breaks the document") {
		t.Errorf("a breach while the test ran was not reported: %q", got.errs)
	}
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("a breach after the test ended panicked: %v", p)
		}
	}()
	get(late)
}
