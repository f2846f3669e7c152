package file

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
)

func newSink(t *testing.T, mutate func(*Config), stdout *bytes.Buffer) *Sink {
	t.Helper()
	var cfg Config
	if err := config.ApplyDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	mutate(&cfg)
	if err := config.Validate(&cfg); err != nil {
		t.Fatal(err)
	}
	s := New(cfg, stdout)
	if err := s.Open(t.Context(), connect.SinkEnv{Name: "f", Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(t.Context()) })
	return s
}

func rec(off uint64, payload string) connect.SinkRecord {
	return connect.SinkRecord{Topic: "/default/t", Partition: -1, PartitionTopic: "/default/t", Offset: off,
		Payload: []byte(payload), Key: "k", Attributes: map[string]string{"a": "1"}, PublishTime: time.Unix(1, 0)}
}

func lines(t *testing.T, data []byte) []Line {
	t.Helper()
	var out []Line
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func TestAutoFormats(t *testing.T) {
	var out bytes.Buffer
	s := newSink(t, func(*Config) {}, &out)
	err := s.WriteBatch(t.Context(), []connect.SinkRecord{rec(0, `{"a": 1}`), rec(1, "plain text"), rec(2, "\xff\xfe")})
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(t, out.Bytes())
	if len(ls) != 3 || string(ls[0].Payload) != `{"a":1}` || ls[0].Encoding != "json" ||
		string(ls[1].Payload) != `"plain text"` || ls[2].Encoding != "base64" || ls[2].Attributes["a"] != "1" ||
		ls[1].Offset != 1 || ls[0].Key != "k" || !ls[0].PublishTime.Equal(time.Unix(1, 0)) {
		t.Fatalf("lines: %+v", ls)
	}
}

func TestJSONFormatDeadLettersInvalid(t *testing.T) {
	var out bytes.Buffer
	s := newSink(t, func(c *Config) { c.PayloadFormat = "json" }, &out)
	err := s.WriteBatch(t.Context(), []connect.SinkRecord{rec(0, `{}`), rec(1, "nope"), rec(2, `[1]`)})
	var be *connect.BatchError
	if !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].Index != 1 || connect.ClassOf(be.Failures[0].Err) != connect.ClassInvalidData {
		t.Fatalf("err = %v", err)
	}
	if n := len(lines(t, out.Bytes())); n != 2 || s.Written() != 2 {
		t.Fatalf("%d lines, written %d", n, s.Written())
	}
}

func TestFileMaxRecordsAndAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "out.jsonl")
	s := newSink(t, func(c *Config) { c.Path = path; c.MaxRecords = 3; c.Sync = "record" }, nil)
	for i := range 3 {
		select {
		case <-s.Done():
			t.Fatalf("done after %d records", i)
		default:
		}
		if err := s.Write(t.Context(), rec(uint64(i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	<-s.Done()
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	s2 := newSink(t, func(c *Config) { c.Path = path }, nil)
	_ = s2.Write(t.Context(), rec(3, "y"))
	_ = s2.Close(t.Context())
	data, _ := os.ReadFile(path)
	if n := len(lines(t, data)); n != 4 {
		t.Fatalf("%d lines after append, want 4", n)
	}
}

func TestSchemaWritten(t *testing.T) {
	var out bytes.Buffer
	s := newSink(t, func(*Config) {}, &out)
	withSchema := rec(0, `{"a":1}`)
	withSchema.Schema = connect.SchemaInfo{ID: 7, Version: 2, Subject: "orders", Type: "json_schema"}
	if err := s.WriteBatch(t.Context(), []connect.SinkRecord{withSchema, rec(1, "x")}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte(`"schema":{"id":7,"version":2,"subject":"orders","type":"json_schema"}`)) {
		t.Fatalf("the schema is not written:\n%s", out.Bytes())
	}
	ls := lines(t, out.Bytes())
	if ls[0].Schema == nil || *ls[0].Schema != (LineSchema{ID: 7, Version: 2, Subject: "orders", Type: "json_schema"}) || ls[1].Schema != nil {
		t.Fatalf("lines: %+v %+v", ls[0].Schema, ls[1].Schema)
	}
}

// append = false truncates only at the start of a run: a reload or a
// restart while the run is in progress appends (and counts the lines
// already written towards max_records); once a run finished, the next one
// starts a fresh file.
func TestNoAppendTruncatesOnlyAtRunStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte("{\"old\":true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noAppend := func(c *Config) { c.Path = path; c.Append = false; c.MaxRecords = 3 }
	count := func() int {
		data, _ := os.ReadFile(path)
		return bytes.Count(data, []byte{'\n'})
	}
	s := newSink(t, noAppend, nil)
	if n := count(); n != 0 {
		t.Fatalf("first start of a run: %d lines, want the file truncated", n)
	}
	if err := s.Write(t.Context(), rec(0, "a")); err != nil {
		t.Fatal(err)
	}
	_ = s.Close(t.Context()) // a reload, or a crash: the run is not finished

	s = newSink(t, noAppend, nil)
	if n := count(); n != 1 {
		t.Fatalf("after a reload: %d lines, want the acknowledged line kept", n)
	}
	for i := range 2 {
		if err := s.Write(t.Context(), rec(uint64(i+1), "b")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("not done after 3 lines in the run (1 before the reload)")
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".running"); !os.IsNotExist(err) {
		t.Fatalf("run marker left after the run finished: %v", err)
	}
	s = newSink(t, noAppend, nil)
	if n := count(); n != 0 {
		t.Fatalf("next run: %d lines, want a fresh file", n)
	}
	_ = s.Close(t.Context())
}
