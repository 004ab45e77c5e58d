package backup

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/backupwatch/backupwatch/shared/validation"
)

// WAL files as PostgreSQL names them (API.md 1.1, "WAL metadata"). A
// WAL_ARCHIVE backup's metadata.segment is the archived file's name:
//
//	000000010000000A000000FF           a segment: timeline, log file, segment
//	000000010000000A000000FF.partial   the last, incomplete segment of a timeline that ended
//	00000002.history                   a timeline history file (a timeline switch)
//	000000010000000A000000FF.00000028.backup  a backup history file
//
// Only segments count for continuity. A segment's number across log files
// is log × (2^32 / segment size) + segment, so that with the default 16 MiB
// segments ...0A000000FF is followed by ...0B00000000.

// WALKind is what a WAL file is.
type WALKind string

// The WAL file kinds.
const (
	WALSegment WALKind = "segment"
	WALPartial WALKind = "partial"
	WALHistory WALKind = "history"
	WALBackup  WALKind = "backup"
)

// DefaultSegmentSize is PostgreSQL's WAL segment size unless initdb was
// told otherwise (--wal-segsize).
const DefaultSegmentSize = 16 << 20

// Segment sizes PostgreSQL allows: a power of two from 1 MiB to 1 GiB.
const (
	minSegmentSize = 1 << 20
	maxSegmentSize = 1 << 30
)

// WALFile is a parsed WAL file name.
type WALFile struct {
	Kind     WALKind
	Timeline uint32
	Log      uint32 // the log file (xlogid); 0 for a history file
	Seg      uint32 // the segment within the log file; 0 for a history file
}

var (
	walSegmentName = validation.Pattern(`^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial|\.[0-9A-F]{8}\.backup)?$`)
	walHistoryName = validation.Pattern(`^([0-9A-F]{8})\.history$`)
	clusterName    = validation.Pattern(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

// ValidCluster says whether name may name a cluster (metadata.cluster):
// 1 to 63 letters, digits, '.', '_' or '-', a letter or digit first.
func ValidCluster(name string) bool { return clusterName().MatchString(name) }

// ParseWALFile reads a WAL file name; ok is false for anything that is not
// one of the four forms (upper-case hex, as PostgreSQL writes them, and a
// timeline of at least 1).
func ParseWALFile(name string) (f WALFile, ok bool) {
	if m := walHistoryName().FindStringSubmatch(name); m != nil {
		f = WALFile{Kind: WALHistory, Timeline: hex32(m[1])}
		return f, f.Timeline > 0
	}
	m := walSegmentName().FindStringSubmatch(name)
	if m == nil {
		return f, false
	}
	f = WALFile{Kind: WALSegment, Timeline: hex32(m[1]), Log: hex32(m[2]), Seg: hex32(m[3])}
	switch {
	case m[4] == ".partial":
		f.Kind = WALPartial
	case m[4] != "":
		f.Kind = WALBackup
	}
	return f, f.Timeline > 0
}

func hex32(s string) uint32 {
	v, _ := strconv.ParseUint(s, 16, 32) // the pattern allows nothing else
	return uint32(v)
}

// SegmentsPerLog is how many segments of size bytes a log file (4 GiB of
// WAL) holds: 256 for 16 MiB segments.
func SegmentsPerLog(size int64) int64 { return (1 << 32) / size }

// Number is the segment's number counted across log files, for segments
// of size bytes.
func (f WALFile) Number(size int64) int64 {
	return int64(f.Log)*SegmentsPerLog(size) + int64(f.Seg)
}

// SegmentName is the name PostgreSQL gives segment number n of timeline tli
// for segments of size bytes.
func SegmentName(tli uint32, n, size int64) string {
	per := SegmentsPerLog(size)
	return fmt.Sprintf("%08X%08X%08X", tli, n/per, n%per)
}

// WALMeta is what the checks read of a backup's metadata: a WAL_ARCHIVE
// backup's segment, segment size and cluster; a FULL_DATABASE backup's
// wal_start and cluster.
type WALMeta struct {
	Segment     string `json:"segment"`
	SegmentSize int64  `json:"segment_size"`
	Cluster     string `json:"cluster"`
	WALStart    string `json:"wal_start"`
}

// ReadWALMeta reads the WAL fields of metadata md (a JSON object). Fields of
// the wrong JSON type read as absent: the door (checkWALMetadata) refuses
// them, and rows stored before it are ignored rather than trusted.
func ReadWALMeta(md json.RawMessage) WALMeta {
	var raw map[string]json.RawMessage
	var m WALMeta
	if json.Unmarshal(md, &raw) != nil {
		return m
	}
	_ = json.Unmarshal(raw["segment"], &m.Segment)
	_ = json.Unmarshal(raw["segment_size"], &m.SegmentSize)
	_ = json.Unmarshal(raw["cluster"], &m.Cluster)
	_ = json.Unmarshal(raw["wal_start"], &m.WALStart)
	if m.SegmentSize == 0 {
		m.SegmentSize = DefaultSegmentSize
	}
	return m
}

// checkWALMetadata checks the WAL fields of a backup of type t (API.md 1.1):
// a WAL_ARCHIVE backup's segment, segment_size and cluster, a FULL_DATABASE
// backup's wal_start and cluster. Each is optional; present, it must be right.
func checkWALMetadata(errs *validation.Errors, t Type, md json.RawMessage) {
	if t != WALArchive && t != FullDatabase {
		return
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(md, &raw) != nil {
		return // CheckMetadata says what is wrong with it
	}
	size := int64(DefaultSegmentSize)
	if v, ok := raw["segment_size"]; ok {
		if err := json.Unmarshal(v, &size); err != nil || size < minSegmentSize || size > maxSegmentSize || size&(size-1) != 0 {
			errs.Add("metadata.segment_size", "must be the WAL segment size in bytes: a power of two from 1 MiB (1048576) to 1 GiB (1073741824)")
			size = DefaultSegmentSize
		}
	}
	if v, ok := raw["cluster"]; ok {
		var c string
		if json.Unmarshal(v, &c) != nil || !clusterName().MatchString(c) {
			errs.Add("metadata.cluster", "must be a name of 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
	}
	segment := func(field string, kinds ...WALKind) {
		v, ok := raw[field]
		if !ok {
			return
		}
		var name string
		f, valid := WALFile{}, json.Unmarshal(v, &name) == nil
		if valid {
			f, valid = ParseWALFile(name)
		}
		if valid {
			valid = false
			for _, k := range kinds {
				valid = valid || f.Kind == k
			}
		}
		switch {
		case !valid && len(kinds) == 1:
			errs.Add("metadata."+field, "must name a WAL segment as PostgreSQL does: 24 upper-case hex digits (timeline, log, segment)")
		case !valid:
			errs.Add("metadata."+field, "must be a WAL file name as PostgreSQL gives it: a segment (24 upper-case hex digits), "+
				"a partial segment (24 hex + .partial), a timeline history file (8 hex + .history) or a backup history file (24 hex + . + 8 hex + .backup)")
		case f.Kind != WALHistory && int64(f.Seg) >= SegmentsPerLog(size):
			errs.Add("metadata."+field, fmt.Sprintf("segment %08X is past the last of a log file for %d-byte segments (%08X)",
				f.Seg, size, SegmentsPerLog(size)-1))
		}
	}
	if t == WALArchive {
		segment("segment", WALSegment, WALPartial, WALHistory, WALBackup)
		if _, ok := raw["wal_start"]; ok {
			errs.Add("metadata.wal_start", "belongs on a FULL_DATABASE base backup, not on a WAL_ARCHIVE backup")
		}
		return
	}
	segment("wal_start", WALSegment)
}
