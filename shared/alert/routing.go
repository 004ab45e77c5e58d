package alert

import (
	"slices"

	"github.com/backupwatch/backupwatch/shared/validation"
)

// channelOrder is the order a routing table lists a severity's channels in.
var channelOrder = []Channel{InApp, Email, SMS, Webhook}

// ValidChannel reports whether c is a known channel.
func ValidChannel(c Channel) bool { return slices.Contains(channelOrder, c) }

// ParseRouting checks a routing table as a client sends it (PUT
// /v1/settings/routing): every severity, each with a list of known
// channels. in_app is always included (the alert row is always there), a
// channel named twice counts once, and the channels come back in one order.
// Each unknown severity or channel is an error on its field.
func ParseRouting(in map[string][]string) (Routing, validation.Errors) {
	var errs validation.Errors
	out := Routing{}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		sev := Severity(k)
		if !sev.Valid() {
			errs.Add(k, "is not a severity: the table's keys are INFO, WARNING, ERROR, CRITICAL")
			continue
		}
		chans := []Channel{InApp}
		for _, c := range in[k] {
			ch := Channel(c)
			switch {
			case !ValidChannel(ch):
				errs.Add(k, "names an unknown channel "+quote(c)+": the channels are in_app, email, sms, webhook")
			case !slices.Contains(chans, ch):
				chans = append(chans, ch)
			}
		}
		slices.SortFunc(chans, func(a, b Channel) int { return slices.Index(channelOrder, a) - slices.Index(channelOrder, b) })
		out[sev] = chans
	}
	for _, sev := range Severities {
		if _, ok := in[string(sev)]; !ok {
			errs.Add(string(sev), "is required: the channels this severity reaches (in_app at least)")
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// quote is s in double quotes, cut short if long.
func quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return `"` + s + `"`
}
