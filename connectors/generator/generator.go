// Package generator is a deterministic source connector: it publishes
// numbered records at a configured rate, optionally up to a count, and
// resumes after its last committed sequence number. It drives the
// quickstart, demos and load tests.
package generator

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
)

// Config is the [generator] section.
type Config struct {
	Topic       string            `config:"topic" default:"/default/generated" doc:"Destination topic, /namespace/name."`
	Partitions  int               `config:"partitions" min:"0" max:"1024" doc:"Partitions to create the topic with (0: not partitioned)."`
	Reliable    bool              `config:"reliable" default:"true" doc:"Reliable dispatch (at-least-once, persisted); false is at-most-once."`
	Count       int64             `config:"count" min:"0" doc:"Records to generate in total (sequence numbers 0..count-1); 0 is unlimited. Once every record is confirmed the connector is finished."`
	Rate        float64           `config:"rate" min:"0" doc:"Records per second; 0 is as fast as the broker confirms."`
	PayloadSize int               `config:"payload_size" default:"64" min:"0" max:"4194304" doc:"Payload size in bytes (the JSON or text body is padded up to it)."`
	Format      string            `config:"format" default:"json" enum:"json,text" doc:"Payload format: json ({\"seq\":N,\"data\":\"…\"}) or text (\"message N …\")."`
	KeyPattern  string            `config:"key_pattern" doc:"Routing key of each record; {seq} is replaced by the sequence number and {mod} by seq modulo keys. Empty: no key."`
	Keys        int64             `config:"keys" default:"10" min:"1" doc:"Modulus of {mod} in key_pattern."`
	BatchSize   int               `config:"batch_size" default:"100" min:"1" max:"10000" doc:"Most records returned by one poll."`
	Attributes  map[string]string `config:"attributes" doc:"Attributes added to every record (names must not start with x-)."`
}

// Validate checks the attribute names.
func (c *Config) Validate() error {
	if c.Topic != "" && !config.ValidTopic(c.Topic) {
		return config.Errorf("topic", "%q: want /namespace/name", c.Topic)
	}
	for k := range c.Attributes {
		if strings.HasPrefix(k, "x-") {
			return config.Errorf("attributes."+k, "names starting with x- are reserved for the runtime")
		}
	}
	return nil
}

// Topics returns the destination topic of the source runtime.
func (c *Config) Topics() []connect.SourceTopic {
	return []connect.SourceTopic{{Topic: c.Topic, Partitions: c.Partitions, NonReliable: !c.Reliable}}
}

// offsetPartition is the name of the generator's only source partition.
const offsetPartition = "sequence"

// Source generates records. Create it with [New]; the source runtime calls
// its methods. Poll and Commit may run concurrently; it is safe for that.
type Source struct {
	cfg Config
	log *slog.Logger

	now   func() time.Time
	next  int64     // next sequence number to generate (Poll only)
	first int64     // first sequence number of this run
	start time.Time // when this run's first record was due

	mu        sync.Mutex
	committed int64 // highest committed sequence number, -1 for none
	done      chan struct{}
	closed    bool
}

var (
	_ connect.Source    = (*Source)(nil)
	_ connect.Committer = (*Source)(nil)
)

// New returns a generator for cfg (defaults applied, validated).
func New(cfg Config) *Source {
	return &Source{cfg: cfg, now: time.Now, committed: -1, done: make(chan struct{})}
}

// Open resumes after the last committed sequence number.
func (s *Source) Open(_ context.Context, env connect.SourceEnv) error {
	s.log = env.Logger
	if pos, ok := env.Offsets[offsetPartition]; ok {
		n, err := strconv.ParseInt(pos, 10, 64)
		if err != nil || n < 0 {
			return connect.Fatal(fmt.Errorf("generator: committed offset %q is not a sequence number", pos))
		}
		s.next = n + 1
		s.setCommitted(n)
	}
	s.first = s.next
	s.start = s.now()
	if s.finished(s.next - 1) {
		s.log.Info("generator already finished", "count", s.cfg.Count)
	} else {
		s.log.Info("generator starting", "seq", s.next, "count", s.cfg.Count, "rate", s.cfg.Rate)
	}
	return nil
}

// Poll returns the records due now, waiting at most a second for the next
// one when a rate is set. After count records it returns nothing.
func (s *Source) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	n := int64(s.cfg.BatchSize)
	if s.cfg.Count > 0 {
		n = min(n, s.cfg.Count-s.next)
	}
	if n <= 0 {
		return nil, nil
	}
	if s.cfg.Rate > 0 {
		due := s.due(s.now())
		if due <= 0 {
			wait := time.Until(s.dueAt(s.next))
			wait = min(max(wait, time.Millisecond), time.Second)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, nil
			case <-t.C:
			}
			due = s.due(s.now())
		}
		n = min(n, due)
		if n <= 0 {
			return nil, nil
		}
	}
	recs := make([]connect.SourceRecord, 0, n)
	for range n {
		recs = append(recs, s.Record(s.next))
		s.next++
	}
	return recs, nil
}

// due returns how many records are due at t and not generated yet.
func (s *Source) due(t time.Time) int64 {
	elapsed := t.Sub(s.start).Seconds()
	total := int64(elapsed*s.cfg.Rate) + 1 // the first record is due at start
	return s.first + total - s.next
}

func (s *Source) dueAt(seq int64) time.Time {
	return s.start.Add(time.Duration(float64(seq-s.first) / s.cfg.Rate * float64(time.Second)))
}

// Record returns the record with sequence number seq. It depends on the
// configuration and seq only, so a run is reproducible.
func (s *Source) Record(seq int64) connect.SourceRecord {
	rec := connect.SourceRecord{Topic: s.cfg.Topic, Payload: s.payload(seq)}
	if s.cfg.KeyPattern != "" {
		rec.Key = strings.NewReplacer("{seq}", strconv.FormatInt(seq, 10), "{mod}", strconv.FormatInt(seq%s.cfg.Keys, 10)).Replace(s.cfg.KeyPattern)
	}
	if len(s.cfg.Attributes) > 0 {
		rec.Attributes = make(map[string]string, len(s.cfg.Attributes))
		for k, v := range s.cfg.Attributes {
			rec.Attributes[k] = v
		}
	}
	return rec.WithOffset(offsetPartition, strconv.FormatInt(seq, 10))
}

func (s *Source) payload(seq int64) []byte {
	var b []byte
	if s.cfg.Format == "text" {
		b = fmt.Appendf(nil, "message %d", seq)
		if pad := s.cfg.PayloadSize - len(b); pad > 1 {
			b = append(b, ' ')
			b = append(b, strings.Repeat("x", pad-1)...)
		}
		return b
	}
	b = fmt.Appendf(nil, `{"seq":%d,"data":"`, seq)
	if pad := s.cfg.PayloadSize - len(b) - 2; pad > 0 {
		b = append(b, strings.Repeat("x", pad)...)
	}
	return append(b, `"}`...)
}

// Commit records the confirmed sequence number; the generator is finished
// when the last one (count-1) is committed.
func (s *Source) Commit(_ context.Context, offs connect.Offsets) error {
	pos, ok := offs[offsetPartition]
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(pos, 10, 64)
	if err != nil {
		return fmt.Errorf("generator: commit %q: %w", pos, err)
	}
	s.setCommitted(n)
	return nil
}

func (s *Source) setCommitted(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > s.committed {
		s.committed = n
	}
	if s.finished(s.committed) && !s.closed {
		s.closed = true
		close(s.done)
	}
}

func (s *Source) finished(lastCommitted int64) bool {
	return s.cfg.Count > 0 && lastCommitted >= s.cfg.Count-1
}

// Done is closed once all count records were generated and confirmed
// (never when count is 0). The command line stops a finished connector.
func (s *Source) Done() <-chan struct{} { return s.done }

// Committed returns the highest committed sequence number, -1 for none.
func (s *Source) Committed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed
}

// Close does nothing: the generator holds no resources.
func (s *Source) Close(context.Context) error { return nil }
