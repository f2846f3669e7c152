package observe

import (
	"io"
	"log/slog"
)

// NewLogger returns a logger writing to w in format "json" or "text" (the
// default) at level.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
