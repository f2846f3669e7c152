package generator

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
)

func newGen(t *testing.T, mutate func(*Config)) *Source {
	t.Helper()
	var cfg Config
	if err := config.ApplyDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	mutate(&cfg)
	if err := config.Validate(&cfg); err != nil {
		t.Fatal(err)
	}
	return New(cfg)
}

func open(t *testing.T, s *Source, offs connect.Offsets) {
	t.Helper()
	if err := s.Open(t.Context(), connect.SourceEnv{Name: "g", Logger: slog.New(slog.DiscardHandler), Offsets: offs}); err != nil {
		t.Fatal(err)
	}
}

func TestCountResumeAndDone(t *testing.T) {
	s := newGen(t, func(c *Config) { c.Count = 250; c.KeyPattern = "k-{mod}"; c.Keys = 4 })
	open(t, s, nil)
	var all []connect.SourceRecord
	for {
		recs, err := s.Poll(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
	}
	if len(all) != 250 || all[0].Offset.Position != "0" || all[249].Offset.Position != "249" || all[7].Key != "k-3" {
		t.Fatalf("got %d records, first %+v", len(all), all[0])
	}
	if string(all[3].Payload) != string(s.Record(3).Payload) {
		t.Fatal("records are not deterministic")
	}
	select {
	case <-s.Done():
		t.Fatal("done before the last record was committed")
	default:
	}
	_ = s.Commit(t.Context(), connect.Offsets{offsetPartition: "249"})
	<-s.Done()

	// A new run resumes after the committed sequence number.
	s2 := newGen(t, func(c *Config) { c.Count = 300 })
	open(t, s2, connect.Offsets{offsetPartition: "249"})
	recs, _ := s2.Poll(t.Context())
	if len(recs) != 50 || recs[0].Offset.Position != "250" {
		t.Fatalf("resume: %d records from %+v", len(recs), recs[0].Offset)
	}
	// A finished generator is done at Open.
	s3 := newGen(t, func(c *Config) { c.Count = 10 })
	open(t, s3, connect.Offsets{offsetPartition: "9"})
	<-s3.Done()
}

func TestPayloadSize(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		s := newGen(t, func(c *Config) { c.PayloadSize = 100; c.Format = format })
		if n := len(s.Record(12345).Payload); n != 100 {
			t.Errorf("%s payload is %d bytes, want 100", format, n)
		}
	}
}

func TestRateFromClock(t *testing.T) {
	s := newGen(t, func(c *Config) { c.Rate = 10 })
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	open(t, s, nil)
	recs, _ := s.Poll(t.Context()) // the first record is due at start
	if len(recs) != 1 {
		t.Fatalf("first poll: %d records", len(recs))
	}
	now = now.Add(time.Second) // 10 more are due
	recs, _ = s.Poll(t.Context())
	if len(recs) != 10 {
		t.Fatalf("after 1s: %d records, want 10", len(recs))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if recs, _ = s.Poll(ctx); len(recs) != 0 { // nothing due: waits, then sees the cancelled context
		t.Fatalf("nothing due but got %d", len(recs))
	}
}

func TestValidate(t *testing.T) {
	cfg := Config{Topic: "bad", Attributes: map[string]string{"x-a": "1"}}
	err := config.Validate(&cfg)
	if err == nil {
		t.Fatal("want an error")
	}
}
