package httpapi_test

import (
	"testing"

	"github.com/backupwatch/backupwatch/shared/httpapi"
)

// TestRouteTables: each function's table holds exactly the routes that name
// that function, and no route is in two tables, so the SAM template (which
// reads Route.Function) and the binaries (which mount the tables) agree.
func TestRouteTables(t *testing.T) {
	s := httpapi.New(httpapi.Config{})
	tables := map[string]httpapi.Table{httpapi.FuncAdmin: httpapi.AdminRoutes, httpapi.FuncBackups: httpapi.BackupRoutes,
		httpapi.FuncRestores: httpapi.RestoreRoutes, httpapi.FuncAlerts: httpapi.AlertRoutes, httpapi.FuncVerify: httpapi.VerifyRoutes}
	seen := map[string]string{}
	total := 0
	for fn, table := range tables {
		routes := table(s)
		if len(routes) == 0 {
			t.Errorf("%s: no routes", fn)
		}
		for _, rt := range routes {
			if rt.Function != fn {
				t.Errorf("%s is in the %s table but names function %s", rt.Pattern(), fn, rt.Function)
			}
			if other, dup := seen[rt.Pattern()]; dup {
				t.Errorf("%s is in the %s and %s tables", rt.Pattern(), other, fn)
			}
			seen[rt.Pattern()] = fn
			total++
		}
	}
	if all := s.Routes(); len(all) != total {
		t.Errorf("AllRoutes has %d routes, the five tables %d", len(all), total)
	}
}
