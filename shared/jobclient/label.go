package jobclient

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// startWAL is the backup label's line naming the base backup's first
// WAL segment: "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)".
var startWAL = regexp.MustCompile(`(?m)^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$`)

// WALStart reads the start segment of the base backup in dir, which
// pg_basebackup wrote: plain format (dir/backup_label) or tar format
// (backup_label inside dir/base.tar, base.tar.gz). dir may also name the
// tar file itself.
func WALStart(dir string) (string, error) {
	label, err := readLabel(dir)
	if err != nil {
		return "", err
	}
	m := startWAL.FindSubmatch(label)
	if m == nil {
		return "", fmt.Errorf("the backup label in %s has no START WAL LOCATION line", dir)
	}
	return string(m[1]), nil
}

func readLabel(dir string) ([]byte, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return labelFromTar(dir)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "backup_label")); err == nil {
		return b, nil
	}
	for _, name := range []string{"base.tar", "base.tar.gz"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return labelFromTar(p)
		}
	}
	return nil, fmt.Errorf("%s holds no backup_label, base.tar or base.tar.gz (a pg_basebackup output directory)", dir)
}

func labelFromTar(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if magic, _ := r.(*bufio.Reader).Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s has no backup_label", path)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h.Name == "backup_label" || h.Name == "./backup_label" {
			return io.ReadAll(io.LimitReader(tr, 1<<20))
		}
	}
}
