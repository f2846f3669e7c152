package connecttest

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// testLogger returns a logger writing warnings and errors to t.Log until
// the test's cleanup closes it; it is registered before anything that logs,
// so it is closed last.
func testLogger(t testing.TB) *slog.Logger {
	w := &tbWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// tbWriter writes lines to t.Log; once closed it discards them, since
// logging after a test has finished is an error.
type tbWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

var _ io.Writer = (*tbWriter)(nil)

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
