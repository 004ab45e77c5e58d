package check

import (
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// DecodeHistory and EncodeHistory expose the stored history's encoding to
// the package's tests.
func DecodeHistory(s store.SeriesState) (backup.History, error) { return decodeHistory(s, nil) }

var EncodeHistory = encodeHistory
