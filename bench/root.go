package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleRoot is the directory of the module's go.mod, where the bench
// commands build the service and write their reports.
func ModuleRoot() (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		return "", fmt.Errorf("finding the module root (go env GOMOD): %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(gomod))), nil
}

// WriteReport writes a Markdown report to out, relative to root unless
// absolute, and returns the path written.
func WriteReport(root, out, md string) (string, error) {
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	return out, os.WriteFile(out, []byte(md), 0o644)
}
