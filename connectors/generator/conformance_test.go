package generator

import (
	"context"
	"sync"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connecttest"
)

// genFixture runs generators of SourceRecords keyed records; the upstream
// acknowledgement of a generator is its committed sequence number.
type genFixture struct {
	cfg Config

	mu  sync.Mutex
	cur *Source
}

func newFixture(t testing.TB, check connecttest.SourceCheck) connecttest.SourceFixture {
	var cfg Config
	if err := config.ApplyDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Topic = check.Topic
	cfg.Count = connecttest.SourceRecords
	cfg.Rate = 400
	cfg.BatchSize = 4
	cfg.KeyPattern = "k{mod}"
	cfg.Keys = 4
	return &genFixture{cfg: cfg}
}

func (f *genFixture) NewSource(testing.TB) connect.Source {
	s := New(f.cfg)
	f.mu.Lock()
	f.cur = s
	f.mu.Unlock()
	return s
}

// Offer does nothing: a generator offers its records by itself.
func (f *genFixture) Offer(context.Context, int, int) {}

func (f *genFixture) Want(i int) connecttest.Message {
	rec := New(f.cfg).Record(int64(i))
	return connecttest.Message{Payload: rec.Payload, Key: rec.Key}
}

func (f *genFixture) Acked() []int {
	f.mu.Lock()
	s := f.cur
	f.mu.Unlock()
	var out []int
	if s == nil {
		return nil
	}
	for i := range s.Committed() + 1 {
		out = append(out, int(i))
	}
	return out
}

func TestSourceConformance(t *testing.T) {
	connecttest.SourceConformance(t, newFixture)
	t.Run("Window10", func(t *testing.T) {
		connecttest.SourceConformance(t, newFixture, connecttest.WithSourceConfig(func(c *connect.SourceConfig) { c.MaxInFlight = 10 }))
	})
}
