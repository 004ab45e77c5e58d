// Package api holds the OpenAPI description of backupwatch's HTTP API:
// openapi.yaml, written by hand from API.md, and openapi.json, the same
// document as JSON, made from it by `go generate ./api`
// (TestJSONIsTheDocument fails while it is stale).
//
// The binaries embed the JSON, which GET /v1/openapi.json answers, so that
// no function links a YAML parser for it (0.3 MB and a package init in
// each; bench/REPORT.md, Cold start). The tests load it with kin-openapi and
// hold every request and response of the HTTP tests to it (shared/testenv).
package api

import _ "embed"

//go:generate go test -run ^TestJSONIsTheDocument$ . -update

// JSON is the description: OpenAPI 3.1, as JSON.
//
//go:embed openapi.json
var JSON []byte
