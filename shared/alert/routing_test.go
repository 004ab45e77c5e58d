package alert_test

import (
	"reflect"
	"testing"

	"github.com/backupwatch/backupwatch/shared/alert"
)

func TestParseRouting(t *testing.T) {
	all := func(m map[string][]string) map[string][]string {
		out := map[string][]string{"INFO": {}, "WARNING": {}, "ERROR": {}, "CRITICAL": {}}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name    string
		in      map[string][]string
		want    alert.Routing
		errKeys []string
	}{
		// The defaults as API.md writes them come back as they are.
		{"defaults", map[string][]string{"INFO": {"in_app"}, "WARNING": {"in_app", "email"},
			"ERROR": {"in_app", "email", "webhook"}, "CRITICAL": {"in_app", "email", "sms", "webhook"}},
			alert.DefaultRouting, nil},
		// in_app is always included, duplicates count once, order is fixed.
		{"in_app added", all(map[string][]string{"CRITICAL": {"webhook", "sms", "sms"}}),
			alert.Routing{alert.Info: {alert.InApp}, alert.Warning: {alert.InApp}, alert.Error: {alert.InApp},
				alert.Critical: {alert.InApp, alert.SMS, alert.Webhook}}, nil},
		// An unknown channel is an error on its severity.
		{"unknown channel", all(map[string][]string{"ERROR": {"pager"}}), nil, []string{"ERROR"}},
		// An unknown severity is an error on its key.
		{"unknown severity", all(map[string][]string{"FATAL": {"sms"}}), nil, []string{"FATAL"}},
		// Every severity must be said.
		{"missing severity", map[string][]string{"INFO": {}}, nil, []string{"WARNING", "ERROR", "CRITICAL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, errs := alert.ParseRouting(c.in)
			for _, k := range c.errKeys {
				if !errs.Has(k) {
					t.Errorf("no error on %s: %v", k, errs)
				}
			}
			if len(c.errKeys) == 0 && len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if c.want != nil && !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
