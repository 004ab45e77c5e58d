package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestRevokedKeyRefused: a key revoked through one process is refused by
// that process at once, and by every other process of the deployment once
// what it cached of the key is older than httpapi.KeyCacheTTL.
func TestRevokedKeyRefused(t *testing.T) {
	a := testenv.NewAPI(t)
	job := a.Key(t, "job", "")
	var id string
	for _, k := range a.Call(t, 200, "GET", "/v1/api-keys?limit=500", a.AdminKey, nil)["items"].([]any) {
		if m := k.(map[string]any); m["prefix"] == job[:len(m["prefix"].(string))] && m["role"] == "job" {
			id = m["id"].(string)
		}
	}
	if id == "" {
		t.Fatal("the job key is not listed")
	}
	// Another process of the deployment: same database, its own cache and clock.
	clock := testenv.NewTime(a.Clock.Now())
	other := httptest.NewServer(testenv.HoldToContract(t, httpapi.New(httpapi.Config{Pool: a.Pool, Logger: testenv.Quiet(), Now: clock.Now}).Handler(httpapi.AllRoutes)))
	t.Cleanup(other.Close)
	get := func(base string) int {
		req, _ := http.NewRequest("GET", base+"/v1/backups", nil)
		req.Header.Set("Authorization", "Bearer "+job)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if get(a.HTTP.URL) != 200 || get(other.URL) != 200 { // both have read the key
		t.Fatal("the key does not work")
	}
	a.Call(t, 204, "DELETE", "/v1/api-keys/"+id, a.AdminKey, nil)
	if code := get(a.HTTP.URL); code != 401 {
		t.Errorf("the revoking process: %d, want 401 at once", code)
	}
	if code := get(other.URL); code != 200 {
		t.Errorf("another process within the cache's time: %d (cached, 200 expected)", code)
	}
	clock.Advance(httpapi.KeyCacheTTL)
	if code := get(other.URL); code != 401 {
		t.Errorf("another process after %s: %d, want 401", httpapi.KeyCacheTTL, code)
	}
}
