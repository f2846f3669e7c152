package devbroker

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// Subscription types, shortened.
const (
	subExclusive = danubepb.ConsumerRequest_Exclusive
	subShared    = danubepb.ConsumerRequest_Shared
	subFailover  = danubepb.ConsumerRequest_Failover
	subKeyShared = danubepb.ConsumerRequest_KeyShared
)

// entryState is where a message in a reliable subscription's window stands.
type entryState uint8

const (
	stReady     entryState = iota // due for (re)delivery
	stInFlight                    // sent to a consumer, awaiting its ack
	stDelayed                     // failed, waiting until deadline for redelivery
	stExhausted                   // retry-exhausted, held by the poison policy
)

// entry is one message in a reliable subscription's window.
type entry struct {
	offset     uint64
	msg        *danubepb.StreamMessage // as stored in the log; never modified
	state      entryState
	consumer   *consumer // stInFlight: who has it
	deliveries int       // times sent so far
	deadline   time.Time // stInFlight: ack deadline; stDelayed: redelivery time
	reason     string    // last failure reason
	dlqBusy    bool      // a dead-letter publish of this entry is running
}

// dlqJob is a dead-letter copy to publish with no lock held.
type dlqJob struct {
	e   *entry
	msg *danubepb.StreamMessage
}

// counters are a subscription's statistics.
type counters struct {
	delivered, redelivered, acked, deadLettered, dropped, skipped uint64
}

// subscription dispatches a topic's messages to its consumers.
//
// Non-reliable subscriptions push each published message straight into one consumer's buffer
// (publishNonReliable) and drop it when nobody can take it. Reliable subscriptions keep a window
// of at most MaxUnackedMessages messages read from the topic log; every event that can make
// progress (a publish, an ack, a nack, a consumer arriving or leaving, a timer tick) calls kick,
// which under mu expires timers, refills the window from the log and sends every ready message
// to a consumer's buffer. Consumer buffers hold at least a full window, so sending never blocks.
type subscription struct {
	t        *topic
	name     string
	typ      danubepb.ConsumerRequest_SubscriptionType
	reliable bool
	window   int

	mu        sync.Mutex
	policy    FailurePolicy
	consumers []*consumer // in join order; Failover prefers earlier ones
	rr        int         // Shared: where the round robin continues
	ring      []ringNode  // KeyShared: hash ring, 100 nodes per consumer

	// Reliable only.
	next      uint64          // next log offset to read into the window
	pending   []*entry        // the window, sorted by offset
	ready     int             // entries in stReady
	poisoned  int             // entries in stExhausted
	persisted uint64          // cursor last written to the journal
	keys      map[string]bool // KeyShared scratch: keys blocked in this pass
	stats     counters
}

func newSubscription(t *topic, name string, typ danubepb.ConsumerRequest_SubscriptionType, start uint64) *subscription {
	return &subscription{
		t:         t,
		name:      name,
		typ:       typ,
		reliable:  t.reliable,
		window:    t.st.cfg.MaxUnackedMessages,
		policy:    t.st.failurePolicy(t.name, name),
		next:      start,
		persisted: start,
	}
}

// cursor is the first offset not yet acknowledged: every message below it was acknowledged,
// dropped or dead-lettered. The caller holds mu.
func (s *subscription) cursorLocked() uint64 {
	if len(s.pending) > 0 {
		return s.pending[0].offset
	}
	return s.next
}

// cursorRecord returns a journal record if the cursor moved since the last one.
func (s *subscription) cursorRecord() (record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cursorLocked()
	if c == s.persisted {
		return record{}, false
	}
	s.persisted = c
	return record{Kind: recCursor, Topic: s.t.name, Sub: s.name, Cursor: c}, true
}

// publishNonReliable hands m to one active consumer of a non-reliable subscription, or drops it.
func (s *subscription) publishNonReliable(m *danubepb.StreamMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var c *consumer
	switch s.typ {
	case subShared:
		n := len(s.consumers)
		for k := range n {
			cand := s.consumers[(s.rr+k)%n]
			if cand.ch == nil {
				continue
			}
			select {
			case cand.ch <- m:
				s.rr = (s.rr + k + 1) % n
				s.stats.delivered++
				return
			default: // full: try the next one
			}
		}
	case subKeyShared:
		c, _ = s.pickKeyLocked(routingKey(m))
	default:
		c = s.firstActiveLocked()
	}
	if c != nil {
		select {
		case c.ch <- m:
			s.stats.delivered++
			return
		default:
		}
	}
	s.stats.dropped++
}

// kick makes what progress it can on a reliable subscription; timers also expires ack timeouts
// and redelivery delays. Dead-letter copies are published after mu is released.
func (s *subscription) kick(now time.Time, timers bool) {
	if !s.reliable {
		return
	}
	s.mu.Lock()
	s.dispatchUnlock(now, timers)
}

// dispatchUnlock makes what progress it can on a reliable subscription (see kick), releases mu,
// which the caller holds, and then publishes the dead-letter copies the dispatch asked for.
func (s *subscription) dispatchUnlock(now time.Time, timers bool) {
	var jobs []dlqJob
	if s.reliable {
		jobs = s.dispatchLocked(now, timers)
	}
	s.mu.Unlock()
	for _, j := range jobs {
		s.deadLetter(j)
	}
}

func (s *subscription) dispatchLocked(now time.Time, timers bool) []dlqJob {
	var jobs []dlqJob
	if timers {
		for i := 0; i < len(s.pending); {
			e := s.pending[i]
			switch e.state {
			case stInFlight:
				if !now.Before(e.deadline) && s.failLocked(i, "ack timeout", 0, now, &jobs) {
					continue // removed
				}
			case stDelayed:
				if !now.Before(e.deadline) {
					e.state = stReady
					s.ready++
				}
			case stExhausted:
				if s.deadLettering() && !e.dlqBusy {
					jobs = append(jobs, s.dlqJobLocked(e, now))
				}
			}
			i++
		}
	}
	// A blocked poison message stops new messages everywhere except on KeyShared, where it only
	// stalls its own key.
	if room := s.window - len(s.pending); room > 0 && (s.poisoned == 0 || s.typ == subKeyShared) {
		for _, m := range s.t.log.read(s.next, room) {
			// Offsets below the log's first retained one are skipped (they were deleted).
			off := m.GetMsgId().GetTopicOffset()
			s.pending = append(s.pending, &entry{offset: off, msg: m})
			s.next = off + 1
			s.ready++
		}
	}
	if s.ready > 0 {
		s.deliverLocked(now)
	}
	return jobs
}

// deliverLocked sends ready messages, in offset order, to the consumers the subscription type
// chooses.
func (s *subscription) deliverLocked(now time.Time) {
	keyShared := s.typ == subKeyShared
	if keyShared {
		if s.keys == nil {
			s.keys = map[string]bool{}
		}
		clear(s.keys)
	}
	for i := 0; i < len(s.pending) && s.ready > 0; {
		e := s.pending[i]
		var key string
		if keyShared {
			// One unacknowledged message per key: a key waits behind its earliest message.
			key = routingKey(e.msg)
			if e.state != stReady || s.keys[key] {
				s.keys[key] = true
				i++
				continue
			}
			s.keys[key] = true
		} else if e.state != stReady {
			i++
			continue
		}
		c, skip := s.pickLocked(key)
		if skip {
			// No consumer of this KeyShared subscription accepts the key: skipped for good.
			s.ready--
			s.stats.skipped++
			s.removeAt(i)
			continue
		}
		if c == nil {
			if !keyShared {
				return // no active consumer
			}
			i++
			continue
		}
		select {
		case c.ch <- e.msg:
		default:
			i++ // cannot happen (buffers hold a window); retried on the next kick
			continue
		}
		e.state = stInFlight
		e.consumer = c
		e.deliveries++
		e.deadline = now.Add(s.policy.AckTimeout)
		s.ready--
		s.stats.delivered++
		if e.deliveries > 1 {
			s.stats.redelivered++
		}
		i++
	}
}

// pickLocked chooses the consumer for a message; skip reports that no KeyShared consumer
// accepts key at all.
func (s *subscription) pickLocked(key string) (c *consumer, skip bool) {
	switch s.typ {
	case subShared:
		n := len(s.consumers)
		for k := range n {
			c := s.consumers[(s.rr+k)%n]
			if c.ch != nil {
				s.rr = (s.rr + k + 1) % n
				return c, false
			}
		}
		return nil, false
	case subKeyShared:
		return s.pickKeyLocked(key)
	}
	return s.firstActiveLocked(), false
}

// firstActiveLocked is the Exclusive and Failover choice: the earliest joined active consumer.
func (s *subscription) firstActiveLocked() *consumer {
	for _, c := range s.consumers {
		if c.ch != nil {
			return c
		}
	}
	return nil
}

// failLocked records a failed delivery of pending[i] (nack or ack timeout): the message is
// scheduled for redelivery, or becomes retry-exhausted and meets the poison policy. It reports
// whether the entry was removed from the window.
func (s *subscription) failLocked(i int, reason string, requested time.Duration, now time.Time, jobs *[]dlqJob) (removed bool) {
	e := s.pending[i]
	e.consumer = nil
	e.reason = reason
	if e.deliveries > s.policy.MaxRedeliveryCount {
		e.state = stExhausted
		s.poisoned++
		switch {
		case s.policy.Poison == Drop:
			s.poisoned--
			s.stats.dropped++
			s.removeAt(i)
			return true
		case s.deadLettering():
			*jobs = append(*jobs, s.dlqJobLocked(e, now))
		}
		return false
	}
	if d := s.policy.delay(e.deliveries, requested); d > 0 {
		e.state = stDelayed
		e.deadline = now.Add(d)
	} else {
		e.state = stReady
		s.ready++
	}
	return false
}

func (s *subscription) deadLettering() bool {
	return s.policy.Poison == DeadLetter && s.policy.DeadLetterTopic != ""
}

// dlqJobLocked marks e as being dead-lettered and builds its copy: the original payload and
// attributes plus the x-* attributes of a Danube broker's poison handler.
func (s *subscription) dlqJobLocked(e *entry, now time.Time) dlqJob {
	e.dlqBusy = true
	id := e.msg.GetMsgId()
	attrs := make(map[string]string, len(e.msg.GetAttributes())+8)
	for k, v := range e.msg.GetAttributes() {
		attrs[k] = v
	}
	attrs["x-original-topic"] = id.GetTopicName()
	attrs["x-original-subscription"] = s.name
	attrs["x-original-topic-offset"] = strconv.FormatUint(id.GetTopicOffset(), 10)
	attrs["x-original-producer-id"] = strconv.FormatUint(id.GetProducerId(), 10)
	attrs["x-original-broker-addr"] = id.GetBrokerAddr()
	attrs["x-poison-policy"] = DeadLetter.String()
	attrs["x-delivery-attempt"] = strconv.Itoa(e.deliveries)
	if e.reason != "" {
		attrs["x-failure-reason"] = e.reason
	}
	return dlqJob{e: e, msg: &danubepb.StreamMessage{
		MsgId: &danubepb.MsgID{
			ProducerId: s.t.st.dlqID,
			TopicName:  s.policy.DeadLetterTopic,
			BrokerAddr: s.t.st.cfg.AdvertisedURL,
		},
		Payload:      e.msg.GetPayload(),
		PublishTime:  uint64(now.UnixMilli()),
		ProducerName: dlqProducerName,
		Attributes:   attrs,
	}}
}

// dlqProducerName is the producer name on dead-letter copies.
const dlqProducerName = "devbroker-dead-letter"

// deadLetter publishes a dead-letter copy and then drops the original from the window. If the
// publish fails the original stays retry-exhausted and is retried on a later timer tick.
func (s *subscription) deadLetter(j dlqJob) {
	err := s.t.st.publishInternal(s.policy.DeadLetterTopic, j.msg)
	s.mu.Lock()
	j.e.dlqBusy = false
	var jobs []dlqJob
	if err != nil {
		s.t.st.log.Warn("dead-letter publish failed", "topic", s.t.name, "subscription", s.name, "error", err)
	} else if i, ok := s.find(j.e.offset); ok && s.pending[i] == j.e {
		s.poisoned--
		s.stats.deadLettered++
		s.removeAt(i)
		jobs = s.dispatchLocked(time.Now(), false)
	}
	s.mu.Unlock()
	for _, j := range jobs {
		s.deadLetter(j)
	}
}

// ack acknowledges offset. Acks of messages not awaiting one are ignored.
func (s *subscription) ack(offset uint64) {
	if !s.reliable {
		return
	}
	s.mu.Lock()
	var jobs []dlqJob
	if i, ok := s.find(offset); ok && s.pending[i].state == stInFlight {
		s.removeAt(i)
		s.stats.acked++
		jobs = s.dispatchLocked(time.Now(), false)
	}
	s.mu.Unlock()
	for _, j := range jobs {
		s.deadLetter(j)
	}
}

// nack fails offset's delivery with a requested delay and reason.
func (s *subscription) nack(offset uint64, delay time.Duration, reason string) {
	if !s.reliable {
		return
	}
	s.mu.Lock()
	var jobs []dlqJob
	if i, ok := s.find(offset); ok {
		if st := s.pending[i].state; st == stInFlight || st == stDelayed {
			now := time.Now()
			s.failLocked(i, reason, delay, now, &jobs)
			jobs = append(jobs, s.dispatchLocked(now, false)...)
		}
	}
	s.mu.Unlock()
	for _, j := range jobs {
		s.deadLetter(j)
	}
}

// requeueLocked makes c's in-flight messages due for redelivery at once (the consumer went away
// or reconnected). For Exclusive and Failover, pending redelivery delays are cleared as well.
func (s *subscription) requeueLocked(c *consumer) {
	clearBackoff := s.typ == subExclusive || s.typ == subFailover
	for _, e := range s.pending {
		if (e.state == stInFlight && e.consumer == c) || (clearBackoff && e.state == stDelayed) {
			e.state = stReady
			e.consumer = nil
			s.ready++
		}
	}
}

// find returns the index of offset in the window.
func (s *subscription) find(offset uint64) (int, bool) {
	return slices.BinarySearchFunc(s.pending, offset, func(e *entry, off uint64) int {
		switch {
		case e.offset < off:
			return -1
		case e.offset > off:
			return 1
		}
		return 0
	})
}

func (s *subscription) removeAt(i int) {
	s.pending = slices.Delete(s.pending, i, i+1)
}

// routingKey is the KeyShared key of m: its routing key, else its producer name.
func routingKey(m *danubepb.StreamMessage) string {
	if m.RoutingKey != nil {
		return *m.RoutingKey
	}
	return m.GetProducerName()
}
