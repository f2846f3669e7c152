package connecttest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/schema"
)

// queue is an upstream of numbered records: Offer appends, the source
// polls them after its committed position and commits upstream (Acked).
// Index -1 is the poison record.
type queue struct {
	mu      sync.Mutex
	offered []int
	acked   map[int]bool
	flaw    string // the broken behaviour of its sources, "" for none
	topic   string // the check's topic: every record names it
	stop    chan struct{}
}

func newQueue(t testing.TB, flaw string, check SourceCheck) *queue {
	q := &queue{acked: map[int]bool{}, flaw: flaw, topic: check.Topic, stop: make(chan struct{})}
	return q
}

func (q *queue) NewSource(testing.TB) connect.Source { return &queueSource{q: q, next: 0} }

func (q *queue) Offer(_ context.Context, from, to int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := from; i < to; i++ {
		q.offered = append(q.offered, i)
	}
}

func (q *queue) Want(i int) Message {
	key := "k" + strconv.Itoa(i%4)
	return Message{Payload: fmt.Appendf(nil, `{"seq":%d,"key":%q}`, i, key), Key: key}
}

func (q *queue) Acked() []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []int
	for i := range q.acked {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func (q *queue) PoisonSchema() schema.Spec {
	return schema.Spec{Type: schema.JSONSchema, Definition: []byte(`{"type":"object","required":["seq"],"properties":{"seq":{"type":"integer"}}}`)}
}

var poisonPayload = []byte(`{"seq":"not a number"}`)

func (q *queue) OfferPoison(context.Context) ([]byte, map[string]string) {
	q.mu.Lock()
	q.offered = append(q.offered, -1)
	q.mu.Unlock()
	return poisonPayload, map[string]string{"origin": "queue"}
}

// queueSource polls a queue from its position in the offered list.
type queueSource struct {
	q    *queue
	next int // position in q.offered
}

func (s *queueSource) Open(_ context.Context, env connect.SourceEnv) error {
	if p, ok := env.Offsets["q"]; ok {
		n, err := strconv.Atoi(p)
		if err != nil {
			return connect.Fatal(err)
		}
		s.next = n + 1
		if s.q.flaw == "skips on restart" {
			s.next += 3
		}
	}
	if s.q.flaw == "leaks a goroutine" {
		go func() { <-s.q.stop }()
	}
	return nil
}

func (s *queueSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	s.q.mu.Lock()
	var out []connect.SourceRecord
	for ; s.next < len(s.q.offered) && len(out) < 8; s.next++ {
		i := s.q.offered[s.next]
		var rec connect.SourceRecord
		if i < 0 {
			if s.q.flaw == "drops poison" {
				continue
			}
			rec = connect.NewRecord(s.q.topic, poisonPayload).WithAttribute("origin", "queue")
		} else {
			m := s.q.Want(i)
			rec = connect.NewRecord(s.q.topic, m.Payload).WithKey(m.Key)
		}
		out = append(out, rec.WithOffset("q", strconv.Itoa(s.next)))
		if s.q.flaw == "acks on poll" && i >= 0 {
			s.q.acked[i] = true
		}
	}
	s.q.mu.Unlock()
	if s.q.flaw == "reorders keys" && len(out) == 8 {
		out[0], out[4] = out[4], out[0]
	}
	if len(out) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return out, nil
}

func (s *queueSource) Commit(_ context.Context, offs connect.Offsets) error {
	p, ok := offs["q"]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return err
	}
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	for _, i := range s.q.offered[:n+1] {
		if i >= 0 {
			s.q.acked[i] = true
		}
	}
	return nil
}

func (s *queueSource) Close(context.Context) error { return nil }

// The fixture's constructor starts a goroutine that lives until the
// check ended, as a fixture's publishing client does: it is not the
// source's and not a leak. The fixture learns each check's name and topic
// and its source publishes there (records naming another topic than the
// one the check reads would be missing).
func TestSourceConformanceOfGoodSource(t *testing.T) {
	var names []string
	SourceConformance(t, func(t testing.TB, check SourceCheck) SourceFixture {
		names = append(names, check.Name)
		if !strings.HasSuffix(t.Name(), "/"+check.Name) {
			t.Errorf("the fixture of %s is built for check %q", t.Name(), check.Name)
		}
		if !strings.HasPrefix(check.Topic, DefaultTopic+"-") {
			t.Errorf("check %s: topic %q, want a suffix of %s", check.Name, check.Topic, DefaultTopic)
		}
		upstream := make(chan struct{})
		go func() { <-upstream }()
		t.Cleanup(func() { close(upstream) })
		return newQueue(t, "", check)
	})
	want := []string{"InOrderPerKey", "AckedOnlyAfterConfirmation", "RestartNoLoss", "StopClean", "PoisonDeadLettered"}
	if !slices.Equal(names, want) {
		t.Errorf("fixtures built for %v, want one for each of %v", names, want)
	}
}

func TestSourceConformanceDetectsBrokenSources(t *testing.T) {
	cases := []struct {
		flaw  string
		check string
		want  string // in the failure messages
	}{
		{"reorders keys", "InOrderPerKey", "out of upstream order"},
		{"acks on poll", "AckedOnlyAfterConfirmation", "acknowledged upstream before the broker stored it"},
		{"skips on restart", "RestartNoLoss", "records missing from"},
		{"leaks a goroutine", "StopClean", "goroutines left after the source stopped"},
		{"drops poison", "PoisonDeadLettered", "the poison record is not on the dead-letter topic"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.flaw, " ", "_"), func(t *testing.T) {
			var queues []*queue
			t.Cleanup(func() {
				for _, q := range queues {
					close(q.stop)
				}
			})
			c := &sourceConformance{
				newFixture: func(t testing.TB, check SourceCheck) SourceFixture {
					q := newQueue(t, tc.flaw, check)
					queues = append(queues, q)
					return q
				},
				opts: []Option{WithTimeout(5 * time.Second)},
			}
			c.o = buildOptions(c.opts)
			var run func(testing.TB)
			for _, ch := range c.checks() {
				if ch.name == tc.check {
					run = ch.run
				}
			}
			f := runFake(t, run)
			if !f.Failed() {
				t.Fatalf("check %s passed a source that %s", tc.check, tc.flaw)
			}
			t.Logf("%s failed as expected:\n%s", tc.check, f.output())
			if out := f.output(); !strings.Contains(out, tc.want) {
				t.Fatalf("check %s failed, but not with %q:\n%s", tc.check, tc.want, out)
			}
		})
	}
}
