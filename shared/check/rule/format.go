package rule

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// humanBytes and humanDuration are the catalogue's own formats, shared with
// the API's and the notifications' messages.
func humanBytes(n int64) string { return backup.HumanSize(n) }

func humanDuration(secs int64) string { return backup.HumanDuration(secs) }

// humanDays writes a forecast's days left.
func humanDays(d float64) string {
	switch {
	case d < 1:
		return "less than a day"
	case d < 2:
		return "about 1 day"
	}
	return fmt.Sprintf("about %d days", int64(d))
}

// percent writes a percentage: whole above 10 %, else to a tenth (3%, 2.5%).
func percent(x float64) string {
	if math.Abs(x) >= 10 {
		return strconv.FormatFloat(math.Round(x), 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(round1(x), 'f', -1, 64) + "%"
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// stamp writes a moment for messages, to the minute, in UTC.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
