package httpapi_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// pendingOperations are operations of API.md (1.1) that the description
// holds but the router does not serve yet, because another issue builds
// them. The list must shrink to empty: an entry that the router serves
// fails TestRoutesMatchDescription, and the lead empties it at merge.
var pendingOperations = []string{}

// TestDescriptionIsValid: api/openapi.yaml loads and passes kin-openapi's
// validation of OpenAPI 3.1 (its examples against their schemas included).
func TestDescriptionIsValid(t *testing.T) {
	doc, err := testenv.LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi: %q, want 3.1.0 (README says so)", doc.OpenAPI)
	}
}

// TestRoutesMatchDescription: the router's routes and the description's
// operations are the same set, both ways, and each route knows exactly the
// query parameters its operation lists.
func TestRoutesMatchDescription(t *testing.T) {
	doc := testenv.Contract(t)
	described := map[string][]string{} // "METHOD /path" → its query parameters
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			var query []string
			for _, p := range append(item.Parameters, op.Parameters...) {
				if p.Value.In == "query" {
					query = append(query, p.Value.Name)
				}
			}
			described[method+" "+path] = query
		}
	}
	routed := map[string]bool{}
	for _, rt := range httpapi.New(httpapi.Config{}).Routes() {
		routed[rt.Pattern()] = true
		query, ok := described[rt.Pattern()]
		if !ok {
			t.Errorf("%s is routed but not in api/openapi.yaml", rt.Pattern())
			continue
		}
		slices.Sort(query)
		params := slices.Sorted(slices.Values(rt.Params))
		if !slices.Equal(query, params) {
			t.Errorf("%s: the router knows query parameters %v, the description %v", rt.Pattern(), params, query)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(described)) {
		pending := slices.Contains(pendingOperations, op)
		switch {
		case !routed[op] && !pending:
			t.Errorf("%s is in api/openapi.yaml but not routed", op)
		case routed[op] && pending:
			t.Errorf("%s is routed now: remove it from pendingOperations", op)
		}
	}
	for _, op := range pendingOperations {
		if _, ok := described[op]; !ok {
			t.Errorf("pending %s is not in api/openapi.yaml", op)
		}
	}
}

// TestOpenAPIServed: GET /v1/openapi.json answers the description as JSON
// without a key, the same document the tests hold the service to.
func TestOpenAPIServed(t *testing.T) {
	a := testenv.NewAPI(t)
	r := a.Do(t, testenv.Request{Method: "GET", Path: "/v1/openapi.json"})
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var served struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &served); err != nil {
		t.Fatal(err)
	}
	doc := testenv.Contract(t)
	if served.OpenAPI != doc.OpenAPI || len(served.Paths) != doc.Paths.Len() {
		t.Errorf("served openapi %q with %d paths, the file %q with %d", served.OpenAPI, len(served.Paths), doc.OpenAPI, doc.Paths.Len())
	}
	// With a key, or with one that is wrong, it is the same public document.
	if r := a.Do(t, testenv.Request{Method: "GET", Path: "/v1/openapi.json", Key: "bw_wrong"}); r.Status != 200 {
		t.Errorf("with a wrong key: %d", r.Status)
	}
	if r := a.Do(t, testenv.Request{Method: "GET", Path: "/v1/openapi.json?x=1"}); r.Status != 400 || r.Code() != "bad_request" {
		t.Errorf("with an unknown parameter: %d %s", r.Status, r.Body)
	}
}
