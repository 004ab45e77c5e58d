package api_test

import (
	"encoding/json"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/backupwatch/backupwatch/api"
)

// TestJSONIsTheDocument: the JSON served is the YAML written, every path.
func TestJSONIsTheDocument(t *testing.T) {
	b, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML struct {
		OpenAPI string         `json:"openapi" yaml:"openapi"`
		Paths   map[string]any `json:"paths" yaml:"paths"`
	}
	if err := json.Unmarshal(b, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(api.YAML, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if fromJSON.OpenAPI != "3.1.0" || len(fromJSON.Paths) == 0 || len(fromJSON.Paths) != len(fromYAML.Paths) {
		t.Errorf("JSON: openapi %q, %d paths; YAML: %d paths", fromJSON.OpenAPI, len(fromJSON.Paths), len(fromYAML.Paths))
	}
	again, _ := api.JSON()
	if string(again) != string(b) {
		t.Error("a second call answered another document")
	}
}
