package deltalake

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connecttest"
	"github.com/parquet-go/parquet-go"
)

// topicSink builds its Sink in Open for the topic the runtime consumes:
// each conformance check runs on a topic of its own.
type topicSink struct {
	t   testing.TB
	dir string
	*Sink
}

func (s *topicSink) Open(ctx context.Context, env connect.SinkEnv) error {
	cfg := testConfig(s.t, func(c *Config) {
		c.Tables = []Table{{Topic: env.Topics[0], TableURI: s.dir, SchemaSource: "fields", WriteMode: "append",
			Fields:          []Field{{Path: "id", Type: TypeString}, {Path: "seq", Type: TypeLong}, {Path: "key", Type: TypeString}},
			MetadataColumns: []string{"offset"}}}
	})
	s.Sink = New(cfg, Options{})
	return s.Sink.Open(ctx, env)
}

func (s *topicSink) Close(ctx context.Context) error {
	if s.Sink == nil {
		return nil
	}
	return s.Sink.Close(ctx)
}

// TestConformance runs the acceptance kit with windows of 10 and 1000
// unacked messages, reading the table back (in commit order) after each
// check, with a poison record.
func TestConformance(t *testing.T) {
	for _, window := range []int{10, 1000} {
		t.Run(fmt.Sprintf("Window%d", window), func(t *testing.T) {
			b := startBroker(t, window, "")
			connecttest.SinkConformance(t,
				func(t testing.TB) connect.Sink { return &topicSink{t: t, dir: filepath.Join(t.TempDir(), "table")} },
				connecttest.WithBroker(b),
				connecttest.WithPoison(connecttest.Message{Payload: []byte(`{"id":"bad","seq":"not a number","key":"k0"}`), Key: "k0"}),
				connecttest.WithReadBack(func(t testing.TB, sink connect.Sink) [][]byte {
					return readBackGo(t, sink.(*topicSink).dir)
				}),
			)
		})
	}
}

// readBackGo reads a table's rows in commit order with the sink's own log
// reader and parquet-go, as the payloads of the conformance messages.
func readBackGo(t testing.TB, dir string) [][]byte {
	t.Helper()
	st := &localStore{root: dir}
	names, err := st.List(context.Background(), logDir, "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	type row struct {
		ID  string `parquet:"id"`
		Seq int64  `parquet:"seq"`
		Key string `parquet:"key"`
	}
	var out [][]byte
	for _, n := range names {
		if _, ok := parseCommitName(n); !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, logDir, n))
		if err != nil {
			t.Fatal(err)
		}
		actions, err := decodeCommit(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range actions {
			if a.Add == nil {
				continue
			}
			p, err := url.PathUnescape(a.Add.Path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
			if err != nil {
				t.Fatal(err)
			}
			rows, err := parquet.Read[row](bytesReader(f), int64(len(f)))
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			for _, r := range rows {
				out = append(out, fmt.Appendf(nil, `{"id":%q,"seq":%d,"key":%q}`, r.ID, r.Seq, r.Key))
			}
		}
	}
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
