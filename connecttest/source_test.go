package connecttest_test

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connecttest"
	"google.golang.org/grpc/codes"
)

// counter is a poll source: records "0", "1", … up to limit (exclusive) on
// source partition "p0", five per poll, resuming after the committed
// position.
type counter struct {
	limit int

	mu     sync.Mutex
	next   int
	opened connect.Offsets
	closed bool
}

func (s *counter) Open(_ context.Context, env connect.SourceEnv) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = maps.Clone(env.Offsets)
	if p, ok := env.Offsets["p0"]; ok {
		n, err := strconv.Atoi(p)
		if err != nil {
			return connect.Fatal(err)
		}
		s.next = n + 1
	}
	return nil
}

func (s *counter) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= s.limit {
		s.mu.Unlock()
		<-ctx.Done() // nothing more upstream
		s.mu.Lock()
		return nil, nil
	}
	var out []connect.SourceRecord
	for ; s.next < s.limit && len(out) < 5; s.next++ {
		p := strconv.Itoa(s.next)
		out = append(out, connect.NewTextRecord("", p).WithOffset("p0", p).WithKey("k"+strconv.Itoa(s.next%3)))
	}
	return out, nil
}

func (s *counter) Close(context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// contiguous fails t unless msgs are the counter's records 0..n-1, each
// exactly once (a gap or a duplicate fails), with their keys and record
// ids. The runtime pipelines its sends, so the broker may store them in
// any order.
func contiguous(t *testing.T, msgs []connecttest.Received, n int) {
	t.Helper()
	seen := make([]int, n)
	for _, m := range msgs {
		i, err := strconv.Atoi(string(m.Payload))
		if err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected message %q", m.Payload)
		}
		seen[i]++
		p := string(m.Payload)
		if want := connect.RecordID(connecttest.SourceName, connect.SourceOffset{Partition: "p0", Position: p}); m.RecordID != want {
			t.Fatalf("message %s: record id %q, want %q", p, m.RecordID, want)
		}
		if m.Key != "k"+strconv.Itoa(i%3) || m.Partition != -1 || m.Topic != connecttest.DefaultTopic {
			t.Fatalf("message %s: key %q on %s partition %d", p, m.Key, m.Topic, m.Partition)
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("record %d published %d times, want once", i, c)
		}
	}
}

func TestRunSourceResumesAfterRestart(t *testing.T) {
	t.Parallel()
	first := &counter{limit: 30}
	run := connecttest.RunSource(t, first)
	contiguous(t, run.Wait(30), 30)
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := run.Committed(); !maps.Equal(got, connect.Offsets{"p0": "29"}) {
		t.Fatalf("committed %v after the stop, want p0=29", got)
	}
	if !first.closed {
		t.Error("the source was not closed")
	}

	second := &counter{limit: 60}
	if err := run.Restart(second); err != nil {
		t.Fatal(err)
	}
	contiguous(t, run.Wait(60), 60)
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(second.opened, connect.Offsets{"p0": "29"}) {
		t.Errorf("the restarted source opened with %v, want p0=29", second.opened)
	}
	if got := run.Committed(); !maps.Equal(got, connect.Offsets{"p0": "59"}) {
		t.Errorf("committed %v, want p0=59", got)
	}
}

// events is a stream source pushing n records through the emitter, then
// finishing.
type events struct {
	n            int
	acked, nacks atomic.Int32
}

func (s *events) Open(context.Context, connect.SourceEnv) error        { return nil }
func (s *events) Poll(context.Context) ([]connect.SourceRecord, error) { return nil, nil }
func (s *events) Close(context.Context) error                          { return nil }

func (s *events) Stream(ctx context.Context, em *connect.Emitter) error {
	for i := range s.n {
		rec := connect.NewTextRecord("", fmt.Sprintf("event-%d", i)).
			WithOffset("s", strconv.Itoa(i)).WithKey("device-"+strconv.Itoa(i%4)).WithAttribute("origin", "stream")
		err := em.Emit(ctx, rec, func(err error) {
			if err == nil {
				s.acked.Add(1)
			} else {
				s.nacks.Add(1)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil // finished
}

func TestRunSourceStreamsToPartitions(t *testing.T) {
	t.Parallel()
	src := &events{n: 40}
	run := connecttest.RunSource(t, src, connecttest.WithTopic("/default/events"),
		connecttest.WithSourceConfig(func(c *connect.SourceConfig) { c.Topics[0].Partitions = 3 }))
	msgs := run.Wait(40)
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 40 {
		t.Fatalf("%d messages, want 40", len(msgs))
	}
	partOf := map[string]int{}
	for _, m := range msgs {
		if m.Topic != "/default/events" || m.Partition < 0 || m.Partition > 2 || m.Attributes["origin"] != "stream" || m.RecordID == "" {
			t.Fatalf("message %+v", m)
		}
		if p, ok := partOf[m.Key]; ok && p != m.Partition {
			t.Errorf("key %s on partitions %d and %d", m.Key, p, m.Partition)
		}
		partOf[m.Key] = m.Partition
	}
	if got := run.Committed(); got["s"] != "39" {
		t.Errorf("committed %v, want s=39", got)
	}
	if src.acked.Load() != 40 || src.nacks.Load() != 0 {
		t.Errorf("acks: %d confirmed, %d failed", src.acked.Load(), src.nacks.Load())
	}
}

// once returns its records on the first poll, then nothing.
type once struct {
	recs []connect.SourceRecord
	done bool
}

func (s *once) Open(context.Context, connect.SourceEnv) error { return nil }
func (s *once) Close(context.Context) error                   { return nil }
func (s *once) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if s.done {
		<-ctx.Done()
		return nil, nil
	}
	s.done = true
	return s.recs, nil
}

func TestRunSourceDeadLettersUnencodableRecords(t *testing.T) {
	t.Parallel()
	run := connecttest.RunSource(t, &once{recs: []connect.SourceRecord{
		connect.NewTextRecord("", "fine").WithOffset("p", "1"),
		connect.NewValueRecord("", func() {}).WithOffset("p", "2"), // JSON cannot encode a func
		connect.NewTextRecord("", "also fine").WithOffset("p", "3"),
	}})
	msgs := run.Wait(2)
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || string(msgs[0].Payload) != "fine" || string(msgs[1].Payload) != "also fine" {
		t.Fatalf("messages %+v", msgs)
	}
	dead := run.DeadLettered()
	if len(dead) != 1 || dead[0].Class != "invalid_data" || dead[0].OriginalTopic != run.Topic() ||
		dead[0].RecordID != connect.RecordID(connecttest.SourceName, connect.SourceOffset{Partition: "p", Position: "2"}) {
		t.Fatalf("dead letters %+v", dead)
	}
	if got := run.Committed(); got["p"] != "3" {
		t.Errorf("committed %v, want p=3 (the dead-lettered record counts as handled)", got)
	}
}

func TestRunSourceRetriesFailedPublishes(t *testing.T) {
	t.Parallel()
	b := connecttest.StartBroker(t)
	b.FailNext("/danube.ProducerService/SendMessage", 3, codes.Unavailable)
	run := connecttest.RunSource(t, &counter{limit: 10}, connecttest.WithBroker(b))
	contiguous(t, run.Wait(10), 10)
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	contiguous(t, run.Messages(), 10)
}
