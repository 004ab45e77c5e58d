// Package logging sets up the log every backupwatch process writes: one
// JSON object per line (log/slog), made the process's default so that a
// line logged by a library, through slog's default or the standard log
// package, comes out as JSON with the same fields as the service's own.
package logging

import (
	"io"
	"log"
	"log/slog"
)

// Setup returns a JSON logger writing to w at level (debug, info, warn or
// error; anything else is info), with attrs on every line, and makes it
// the default of log/slog and of the standard log package.
func Setup(w io.Writer, level string, attrs ...any) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	logger := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With(attrs...)
	slog.SetDefault(logger)
	// The log package's lines pass through the handler above; its own
	// date prefix would be a second timestamp inside "msg".
	log.SetFlags(0)
	return logger
}
