package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestProxyModeLeavesNoSessionState: the Lambda functions' pool
// (store.OpenForProxy, what shared/boot opens) serves the API's main paths
// (the one-batch ingest, updates, lists with filters and search, counts,
// alert actions) without leaving a named prepared statement on its
// connection, the session state that would make RDS Proxy pin it. The same
// requests through serve's pool do leave them, which shows the test can
// tell the difference.
func TestProxyModeLeavesNoSessionState(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proxy bool
	}{{name: "through the proxy", proxy: true}, {name: "serve's pool"}} {
		t.Run(tc.name, func(t *testing.T) {
			db := testenv.NewDB(t)
			ctx := t.Context()
			// One connection, so that every request runs on the one we inspect.
			var pool *pgxpool.Pool
			var err error
			if tc.proxy {
				pool, err = store.OpenForProxy(ctx, db.AppURL, store.Credentials{}, 1, testenv.Quiet())
			} else {
				pool, err = store.OpenAs(ctx, db.AppURL, store.Credentials{}, 1, testenv.Quiet())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			srv := httptest.NewServer(testenv.HoldToContract(t, httpapi.New(httpapi.Config{Pool: pool, Logger: testenv.Quiet(),
				RateLimit: httpapi.RateLimit{RPS: 1e9, Burst: 1e9}}).Handler(httpapi.AllRoutes)))
			defer srv.Close()
			admin := db.AdminKey(t)
			call := func(want int, method, path, key string, body any) map[string]any {
				t.Helper()
				var buf bytes.Buffer
				if body != nil {
					_ = json.NewEncoder(&buf).Encode(body)
				}
				req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, &buf)
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var m map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&m)
				if resp.StatusCode != want {
					t.Fatalf("%s %s: %d, want %d: %v", method, path, resp.StatusCode, want, m)
				}
				return m
			}
			tenant := call(201, "POST", "/v1/tenants", admin, map[string]any{"name": "Acme", "slug": "acme"})["id"].(string)
			job := call(201, "POST", "/v1/api-keys", admin, map[string]any{"name": "job", "role": "job"})["key"].(string)
			op := call(201, "POST", "/v1/api-keys", admin, map[string]any{"name": "op", "role": "operator"})["key"].(string)
			for i := range 3 {
				b := call(201, "POST", "/v1/backups", job, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": tenant,
					"filename": fmt.Sprintf("acme-%d.dump", i)})
				call(200, "PATCH", "/v1/backups/"+b["id"].(string), job, map[string]any{"status": "FAILED", "notes": "disk full"})
			}
			call(200, "GET", "/v1/backups?status=FAILED&q=acme&backup_type=TENANT_BACKUP", op, nil)
			call(200, "GET", "/v1/backups/count?tenant_id="+tenant, op, nil)
			alerts := call(200, "GET", "/v1/alerts?status=ACTIVE", op, nil)["items"].([]any)
			if len(alerts) == 0 {
				t.Fatal("the failures raised no alert")
			}
			call(200, "POST", "/v1/alerts/"+alerts[0].(map[string]any)["id"].(string)+"/acknowledge", op, map[string]any{"notes": "on it"})
			call(200, "GET", "/v1/status", op, nil)

			var prepared int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&prepared); err != nil {
				t.Fatal(err)
			}
			if tc.proxy && prepared != 0 {
				t.Errorf("%d named prepared statements on the proxy pool's connection: RDS Proxy would pin it", prepared)
			}
			if !tc.proxy && prepared == 0 {
				t.Errorf("serve's pool prepared nothing: the test cannot tell the modes apart")
			}
		})
	}
}
