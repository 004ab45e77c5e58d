// Package api holds the OpenAPI description of backupwatch's HTTP API
// (openapi.yaml, written by hand from API.md) and serves it as JSON.
//
// The binaries embed the document; the tests load it with kin-openapi and
// hold every request and response of the HTTP tests to it (shared/testenv).
package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"gopkg.in/yaml.v3"
)

// YAML is the description as written: OpenAPI 3.1.
//
//go:embed openapi.yaml
var YAML []byte

// JSON returns the description as JSON (what GET /v1/openapi.json answers).
// It is converted once and kept.
func JSON() ([]byte, error) {
	asJSON.once.Do(func() { asJSON.b, asJSON.err = toJSON(YAML) })
	return asJSON.b, asJSON.err
}

var asJSON struct {
	once sync.Once
	b    []byte
	err  error
}

// toJSON converts a YAML document whose mapping keys are all strings (as an
// OpenAPI document's are) to JSON.
func toJSON(y []byte) ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, fmt.Errorf("api: reading openapi.yaml: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api: openapi.yaml as JSON: %w", err)
	}
	return b, nil
}
