package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/backupwatch/backupwatch/api"
)

var update = flag.Bool("update", false, "write openapi.json from openapi.yaml (go generate ./api)")

// TestJSONIsTheDocument: the JSON embedded and served is openapi.yaml as
// written, converted (with -update, it is written so).
func TestJSONIsTheDocument(t *testing.T) {
	y, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := toJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("openapi.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(api.JSON, want) {
		t.Fatal("openapi.json is not openapi.yaml as it is now: run go generate ./api")
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(api.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Paths) == 0 {
		t.Errorf("openapi %q, %d paths", doc.OpenAPI, len(doc.Paths))
	}
}

// toJSON converts a YAML document whose mapping keys are all strings (as an
// OpenAPI document's are) to JSON, compact (it is embedded in every
// binary; the YAML is what people read), its keys sorted.
func toJSON(y []byte) ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
