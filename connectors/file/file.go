// Package file is a sink connector writing records as JSON lines to a file
// or to standard output: one object per record with its payload,
// attributes, key, topic, partition, offset, publish time and registry
// schema.
package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danube-connect/connect"
)

// Config is the [file] section.
type Config struct {
	Path          string `config:"path" default:"-" doc:"Output file, created if missing; \"-\" is standard output."`
	Append        bool   `config:"append" default:"true" doc:"Append to an existing file. false starts a fresh file for each run: the file is truncated at start only when no run is in progress, that is when it never ran or its last run finished (max_records written); after a reload, a crash or an interrupted run the sink appends, so no acknowledged record is lost. The marker file <path>.running records a run in progress; delete it (or the file) to start over."`
	PayloadFormat string `config:"payload_format" default:"auto" enum:"auto,json,string,base64" doc:"How payloads are written: auto (as JSON when valid JSON, else as a string when valid UTF-8, else base64), json (invalid JSON is dead-lettered), string, or base64."`
	Sync          string `config:"sync" default:"batch" enum:"none,batch,record" doc:"Durability before a record is acked: none (written to the OS), batch (fsync after each batch) or record (fsync after each record). Standard output is never fsynced."`
	MaxRecords    int64  `config:"max_records" min:"0" doc:"Finish after writing this many records (the process stops the connector once they are acked); 0 runs until stopped."`
}

// Line is one output line. Tools reading the file can decode into it.
type Line struct {
	Topic       string            `json:"topic"`
	Partition   int               `json:"partition,omitempty"`
	Offset      uint64            `json:"offset"`
	Key         string            `json:"key,omitempty"`
	PublishTime time.Time         `json:"publish_time"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	// Schema is the registry schema the record was published with; absent
	// for records without one.
	Schema *LineSchema `json:"schema,omitempty"`
	// Encoding is "json", "string" or "base64": how Payload is written.
	Encoding string          `json:"payload_encoding"`
	Payload  json.RawMessage `json:"payload"`
}

// LineSchema is the registry schema of a record (see connect.SchemaInfo);
// Subject and Type are known when the topic decodes with the registry
// ([[schemas]] or schema_subject).
type LineSchema struct {
	ID      uint64 `json:"id"`
	Version uint32 `json:"version"`
	Subject string `json:"subject,omitempty"`
	Type    string `json:"type,omitempty"`
}

// Sink writes JSON lines. Create it with [New]. It is safe for concurrent
// use: lines of concurrent batches never interleave.
type Sink struct {
	cfg    Config
	stdout io.Writer

	mu      sync.Mutex
	f       *os.File // nil for standard output
	w       *bufio.Writer
	written int64
	done    chan struct{}
	closed  bool
	err     error // sticky write error
}

var (
	_ connect.BatchSink     = (*Sink)(nil)
	_ connect.HealthChecker = (*Sink)(nil)
)

// New returns a sink for cfg (defaults applied, validated). stdout receives
// the lines when cfg.Path is "-" (nil: os.Stdout).
func New(cfg Config, stdout io.Writer) *Sink {
	if stdout == nil {
		stdout = os.Stdout
	}
	return &Sink{cfg: cfg, stdout: stdout, done: make(chan struct{})}
}

// Open opens (or creates) the output file.
func (s *Sink) Open(_ context.Context, env connect.SinkEnv) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Path == "-" {
		s.w = bufio.NewWriter(s.stdout)
		return nil
	}
	if dir := filepath.Dir(s.cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return connect.Configuration(fmt.Errorf("file sink: create directory of %s: %w", s.cfg.Path, err))
		}
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	resumed := false
	if !s.cfg.Append {
		_, err := os.Stat(s.marker())
		switch {
		case err == nil:
			resumed = true // a run in progress: a reload, or a restart after a crash
		case errors.Is(err, fs.ErrNotExist):
			flags |= os.O_TRUNC
		default:
			return connect.Configuration(fmt.Errorf("file sink: run marker of %s: %w", s.cfg.Path, err))
		}
	}
	f, err := os.OpenFile(s.cfg.Path, flags, 0o644)
	if err != nil {
		return connect.Configuration(fmt.Errorf("file sink: open %s: %w", s.cfg.Path, err))
	}
	if !s.cfg.Append && !resumed {
		// Truncated first, marked second: a crash in between leaves an
		// empty file without a marker, and nothing was acknowledged yet.
		if err := os.WriteFile(s.marker(), []byte("a run writing "+s.cfg.Path+" is in progress\n"), 0o644); err != nil {
			f.Close()
			return connect.Configuration(fmt.Errorf("file sink: run marker of %s: %w", s.cfg.Path, err))
		}
	}
	if resumed {
		n, err := countLines(s.cfg.Path)
		if err != nil {
			f.Close()
			return fmt.Errorf("file sink: read %s: %w", s.cfg.Path, err)
		}
		s.written = n
		env.Logger.Info("file sink resuming a run in progress: appending", "path", s.cfg.Path, "lines", n, "marker", s.marker())
	}
	s.f = f
	s.w = bufio.NewWriterSize(f, 64<<10)
	if s.cfg.MaxRecords > 0 && s.written >= s.cfg.MaxRecords && !s.closed {
		s.closed = true
		close(s.done)
	}
	env.Logger.Info("file sink writing", "path", s.cfg.Path, "sync", s.cfg.Sync)
	return nil
}

// marker is the file recording that a run with append = false is in
// progress.
func (s *Sink) marker() string { return s.cfg.Path + ".running" }

// countLines counts the complete lines of the file at path.
func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Write writes one record.
func (s *Sink) Write(ctx context.Context, rec connect.SinkRecord) error {
	return s.WriteBatch(ctx, []connect.SinkRecord{rec})
}

// WriteBatch writes the records as lines, then flushes (and fsyncs,
// following the sync policy) before returning, so an acked record is in
// the file. A payload that payload_format "json" cannot write is
// InvalidData (dead-lettered); the other records of the batch are written.
func (s *Sink) WriteBatch(_ context.Context, recs []connect.SinkRecord) error {
	lines := make([][]byte, len(recs))
	var be *connect.BatchError
	for i := range recs {
		b, err := s.encode(&recs[i])
		if err != nil {
			if be == nil {
				be = &connect.BatchError{}
			}
			be.Add(i, err)
			continue
		}
		lines[i] = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return connect.Fatal(fmt.Errorf("file sink: earlier write failed: %w", s.err))
	}
	if s.w == nil {
		return connect.Fatal(errors.New("file sink: not open"))
	}
	n := int64(0)
	for _, b := range lines {
		if b == nil {
			continue
		}
		if _, err := s.w.Write(b); err != nil {
			return s.fail(err)
		}
		n++
		if s.cfg.Sync == "record" {
			if err := s.flush(true); err != nil {
				return s.fail(err)
			}
		}
	}
	if err := s.flush(s.cfg.Sync == "batch"); err != nil {
		return s.fail(err)
	}
	s.written += n
	if s.cfg.MaxRecords > 0 && s.written >= s.cfg.MaxRecords && !s.closed {
		s.closed = true
		close(s.done)
	}
	if be != nil {
		return be
	}
	return nil
}

// fail makes a write error sticky: a partly written line cannot be
// repaired, so the sink stops (Fatal) and the unacked records are
// redelivered after a restart.
func (s *Sink) fail(err error) error {
	s.err = err
	return connect.Fatal(fmt.Errorf("file sink: write %s: %w", s.cfg.Path, err))
}

func (s *Sink) flush(sync bool) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if sync && s.f != nil {
		return s.f.Sync()
	}
	return nil
}

func (s *Sink) encode(rec *connect.SinkRecord) ([]byte, error) {
	l := Line{
		Topic:       rec.Topic,
		Partition:   max(rec.Partition, 0),
		Offset:      rec.Offset,
		Key:         rec.Key,
		PublishTime: rec.PublishTime.UTC(),
		Attributes:  rec.Attributes,
	}
	if rec.Schema.ID != 0 {
		l.Schema = &LineSchema{ID: rec.Schema.ID, Version: rec.Schema.Version, Subject: rec.Schema.Subject, Type: rec.Schema.Type}
	}
	p := rec.Payload
	switch s.cfg.PayloadFormat {
	case "json":
		if !json.Valid(p) {
			return nil, connect.InvalidData(fmt.Errorf("file sink: payload of %s offset %d is not valid JSON", rec.PartitionTopic, rec.Offset))
		}
		l.Encoding, l.Payload = "json", compact(p)
	case "string":
		l.Encoding, l.Payload = "string", quote(string(p))
	case "base64":
		l.Encoding, l.Payload = "base64", quote(base64.StdEncoding.EncodeToString(p))
	default:
		switch {
		case len(p) > 0 && json.Valid(p):
			l.Encoding, l.Payload = "json", compact(p)
		case utf8.Valid(p):
			l.Encoding, l.Payload = "string", quote(string(p))
		default:
			l.Encoding, l.Payload = "base64", quote(base64.StdEncoding.EncodeToString(p))
		}
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, connect.InvalidData(fmt.Errorf("file sink: encode record of %s offset %d: %w", rec.PartitionTopic, rec.Offset, err))
	}
	return append(b, '\n'), nil
}

func compact(p []byte) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return p
	}
	return b.Bytes()
}

func quote(s string) json.RawMessage {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return b
}

// HealthCheck fails after a write error.
func (s *Sink) HealthCheck(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return fmt.Errorf("file sink: %w", s.err)
	}
	return nil
}

// Written returns the number of records written so far.
func (s *Sink) Written() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// Done is closed once max_records records were written (never when
// max_records is 0). The command line stops a finished connector.
func (s *Sink) Done() <-chan struct{} { return s.done }

// Close flushes and closes the file (standard output stays open).
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.w != nil && s.err == nil {
		err = s.flush(s.cfg.Sync != "none")
	}
	if s.f != nil {
		err = errors.Join(err, s.f.Close())
		s.f = nil
		if err == nil && !s.cfg.Append && s.closed {
			// The run finished: the next one starts a fresh file.
			if rerr := os.Remove(s.marker()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = fmt.Errorf("file sink: remove run marker: %w", rerr)
			}
		}
	}
	s.w = nil
	return err
}
