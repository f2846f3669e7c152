package devbroker

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// nonReliableBuffer is the per-consumer buffer of non-reliable subscriptions; messages are
// dropped when it is full. Reliable consumers get a buffer as large as the ack window, so that
// dispatch never blocks.
const nonReliableBuffer = 1024

// consumer is a named member of a subscription. It is active (its buffer ch is non-nil) from
// Subscribe until its ReceiveMessages stream goes away; messages for it wait in ch until the
// stream sends them.
type consumer struct {
	id      uint64
	name    string
	sub     *subscription
	filters []string // KeyShared glob filters; empty accepts every key

	// Guarded by sub.mu.
	ch      chan *danubepb.StreamMessage // nil while inactive
	stream  *stream                      // the ReceiveMessages stream serving ch, if any
	closed  bool                         // closed by a fault hook until the next Subscribe
	removed bool                         // replaced in its Exclusive subscription
}

// stream is one ReceiveMessages call: it sends from ch until done is closed (takeover, fault
// hook) or its client goes away.
type stream struct {
	ch   chan *danubepb.StreamMessage
	done chan struct{}
}

func (c *consumer) accepts(key string) bool {
	if len(c.filters) == 0 {
		return true
	}
	for _, f := range c.filters {
		if globMatch(f, key) {
			return true
		}
	}
	return false
}

func (s *subscription) bufferSize() int {
	if s.reliable {
		return max(s.window, 16)
	}
	return nonReliableBuffer
}

// subscribe adds consumer name to subscription subName (created with typ if new) or re-attaches
// the existing consumer of that name, ending its stream. Errors are gRPC statuses.
func (t *topic) subscribe(subName, name string, typ danubepb.ConsumerRequest_SubscriptionType, filters []string) (*consumer, error) {
	st := t.st
	t.mu.Lock()
	s := t.subs[subName]
	if s == nil {
		if _, ok := danubepb.ConsumerRequest_SubscriptionType_name[int32(typ)]; !ok {
			t.mu.Unlock()
			return nil, status.Errorf(codes.PermissionDenied, "Not able to subscribe to the topic %s due to unknown subscription type %d", t.name, typ)
		}
		var start uint64
		if t.reliable {
			start = t.log.visible() // latest: the position is fixed before Subscribe answers
		}
		s = newSubscription(t, subName, typ, start)
		if err := st.journal.write(true, record{Kind: recSub, Topic: t.name, Sub: subName, Type: int32(typ), Cursor: start}); err != nil {
			t.mu.Unlock()
			return nil, status.Errorf(codes.PermissionDenied, "Not able to subscribe to the topic %s due to %v", t.name, err)
		}
		t.subs[subName] = s
		t.subList = append(slices.Clip(t.subList), s)
	}
	t.mu.Unlock()

	s.mu.Lock()
	c, evicted, err := s.addConsumerLocked(name, typ, filters)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	var jobs []dlqJob
	if s.reliable {
		jobs = s.dispatchLocked(time.Now(), false)
	}
	s.mu.Unlock()
	st.idMu.Lock()
	st.consumers[c.id] = c
	if evicted != nil {
		delete(st.consumers, evicted.id)
	}
	st.idMu.Unlock()
	for _, j := range jobs {
		s.deadLetter(j)
	}
	return c, nil
}

func (s *subscription) addConsumerLocked(name string, typ danubepb.ConsumerRequest_SubscriptionType, filters []string) (c, evicted *consumer, err error) {
	st := s.t.st
	if i := slices.IndexFunc(s.consumers, func(c *consumer) bool { return c.name == name }); i >= 0 {
		// Reconnect or takeover: same id, the old stream ends, in-flight messages are redelivered.
		c = s.consumers[i]
		s.endStreamLocked(c)
		c.closed = false
		c.ch = make(chan *danubepb.StreamMessage, s.bufferSize())
		s.requeueLocked(c)
		return c, nil, nil
	}
	if s.typ == subExclusive && len(s.consumers) > 0 {
		old := s.consumers[0]
		if old.ch != nil && !old.closed {
			return nil, nil, status.Errorf(codes.PermissionDenied,
				"Not able to subscribe to the topic %s due to Not allowed to add the Consumer: %s, the Exclusive subscription can't be shared with other consumers",
				s.t.name, name)
		}
		// The previous consumer is gone: the new one replaces it.
		evicted = old
		s.endStreamLocked(old)
		old.ch = nil
		old.removed = true
		s.requeueLocked(old)
		s.consumers = s.consumers[:0]
		if err := st.journal.write(true, record{Kind: recForget, Topic: s.t.name, Sub: s.name, Name: old.name}); err != nil {
			st.log.Warn("journal consumer removal", "error", err)
		}
	}
	c = &consumer{id: st.newID(), name: name, sub: s}
	if typ == subKeyShared && s.typ == subKeyShared {
		c.filters = slices.Clone(filters)
	}
	if err := st.journal.write(true, record{Kind: recConsumer, Topic: s.t.name, Sub: s.name, Name: name, ID: c.id, Filters: c.filters}); err != nil {
		return nil, nil, status.Errorf(codes.PermissionDenied, "Not able to subscribe to the topic %s due to %v", s.t.name, err)
	}
	c.ch = make(chan *danubepb.StreamMessage, s.bufferSize())
	s.consumers = append(s.consumers, c)
	s.rebuildRingLocked()
	return c, evicted, nil
}

// endStreamLocked ends c's ReceiveMessages stream, if any, with status OK.
func (s *subscription) endStreamLocked(c *consumer) {
	if c.stream != nil {
		close(c.stream.done)
		c.stream = nil
	}
}

// attach starts a ReceiveMessages stream for c, ending any previous one.
func (s *subscription) attach(c *consumer) (*stream, error) {
	s.mu.Lock()
	if c.closed || c.removed {
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "The consumer with the id %d does not exist", c.id)
	}
	if c.stream != nil || c.ch == nil {
		// Taking over a live stream, or reactivating: start from a fresh buffer and redeliver
		// whatever the consumer had in flight.
		s.endStreamLocked(c)
		c.ch = make(chan *danubepb.StreamMessage, s.bufferSize())
		s.requeueLocked(c)
	}
	str := &stream{ch: c.ch, done: make(chan struct{})}
	c.stream = str
	s.dispatchUnlock(time.Now(), false)
	return str, nil
}

// detach handles a stream whose client went away: the consumer becomes inactive and its
// in-flight messages are redelivered (to another consumer, or when it comes back).
func (s *subscription) detach(c *consumer, str *stream) {
	s.mu.Lock()
	if c.stream != str {
		s.mu.Unlock()
		return
	}
	c.stream = nil
	c.ch = nil
	s.requeueLocked(c)
	s.dispatchUnlock(time.Now(), false)
}

// close closes c as a topic move would: its stream ends, health checks answer CLOSE and
// ReceiveMessages answers NOT_FOUND until it subscribes again. Reliable state is kept.
func (s *subscription) closeConsumer(c *consumer) {
	s.mu.Lock()
	s.endStreamLocked(c)
	c.ch = nil
	c.closed = true
	s.requeueLocked(c)
	s.dispatchUnlock(time.Now(), false)
}

// healthy reports whether c is known and active.
func (c *consumer) healthy() bool {
	c.sub.mu.Lock()
	defer c.sub.mu.Unlock()
	return c.ch != nil && !c.closed && !c.removed
}

// endStreams ends every stream of the subscription normally and returns how many it ended.
func (s *subscription) endStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.consumers {
		if c.stream != nil {
			s.endStreamLocked(c)
			n++
		}
	}
	return n
}

func (s *subscription) consumerNamed(name string) *consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.consumers, func(c *consumer) bool { return c.name == name }); i >= 0 {
		return s.consumers[i]
	}
	return nil
}

func unknownConsumer(id uint64) error {
	return status.Error(codes.NotFound, fmt.Sprintf("The consumer with the id %d does not exist", id))
}
