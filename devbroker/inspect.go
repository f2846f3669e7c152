package devbroker

import (
	"maps"
	"time"
)

// CloseProducer forgets the producer named producerName on topic, as a topic move would:
// SendMessage with its id answers NOT_FOUND and HealthCheck answers CLOSE. A new CreateProducer
// with the same name gets a new id. It reports whether the producer existed.
func (b *Broker) CloseProducer(topic, producerName string) bool {
	t := b.topic(topic)
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.producers[producerName]
	if p == nil {
		return false
	}
	delete(t.producers, producerName)
	t.st.forgetProducer(p)
	return true
}

// CloseConsumer closes a consumer as a topic move would: its stream ends (OK), HealthCheck
// answers CLOSE and ReceiveMessages answers NOT_FOUND until the consumer subscribes again. Its
// reliable state (cursor, unacknowledged messages) is kept and redelivered. It reports whether
// the consumer existed.
func (b *Broker) CloseConsumer(topic, subscription, consumerName string) bool {
	s := b.subscription(topic, subscription)
	if s == nil {
		return false
	}
	c := s.consumerNamed(consumerName)
	if c == nil {
		return false
	}
	s.closeConsumer(c)
	return true
}

// UnloadTopic simulates moving topic to another broker: every producer of the topic is closed as
// by CloseProducer and every consumer as by CloseConsumer. Messages, subscriptions and cursors
// stay.
func (b *Broker) UnloadTopic(topic string) {
	t := b.topic(topic)
	if t == nil {
		return
	}
	t.mu.Lock()
	for name, p := range t.producers {
		delete(t.producers, name)
		t.st.forgetProducer(p)
	}
	subs := t.subList
	t.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		cs := append([]*consumer(nil), s.consumers...)
		s.mu.Unlock()
		for _, c := range cs {
			s.closeConsumer(c)
		}
	}
}

// EndStreams ends every ReceiveMessages stream of topic normally (status OK) and returns how
// many it ended. The consumers stay active; clients are expected to reopen their streams.
func (b *Broker) EndStreams(topic string) int {
	t := b.topic(topic)
	if t == nil {
		return 0
	}
	t.mu.RLock()
	subs := t.subList
	t.mu.RUnlock()
	n := 0
	for _, s := range subs {
		n += s.endStreams()
	}
	return n
}

// Topics returns the names of all topics (partitions included), sorted.
func (b *Broker) Topics() []string {
	st := b.state()
	if st == nil {
		return nil
	}
	return st.topicNames()
}

// Message is a retained message of a reliable topic, as stored.
type Message struct {
	// Topic is the partition topic the message is stored in.
	Topic string
	// Offset is the message's offset in its topic.
	Offset uint64
	// Payload is the message body.
	Payload []byte
	// Attributes are the producer's attributes.
	Attributes map[string]string
	Key        string // routing key, "" if none
	// ProducerName, ProducerID and RequestID identify the send.
	ProducerName string
	ProducerID   uint64 // see ProducerName
	RequestID    uint64 // see ProducerName
	// PublishTime is when the broker stored the message.
	PublishTime   time.Time
	SchemaID      uint64 // 0 if unset
	SchemaVersion uint32 // 0 if unset
}

// Messages returns the retained messages of a reliable topic in offset order (nil for unknown
// and non-reliable topics): those the retention did not delete ([Config.RetentionBytes]). The
// returned values are copies.
func (b *Broker) Messages(topic string) []Message {
	t := b.topic(topic)
	if t == nil || t.log == nil {
		return nil
	}
	msgs := t.log.snapshot()
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = Message{
			Topic:         topic,
			Offset:        m.GetMsgId().GetTopicOffset(),
			Payload:       append([]byte(nil), m.GetPayload()...),
			Attributes:    maps.Clone(m.GetAttributes()),
			Key:           m.GetRoutingKey(),
			ProducerName:  m.GetProducerName(),
			ProducerID:    m.GetMsgId().GetProducerId(),
			RequestID:     m.GetRequestId(),
			PublishTime:   time.UnixMilli(int64(m.GetPublishTime())),
			SchemaID:      m.GetSchemaId(),
			SchemaVersion: m.GetSchemaVersion(),
		}
		if out[i].Attributes == nil {
			out[i].Attributes = map[string]string{}
		}
	}
	return out
}

// SubscriptionStats describes a subscription at one moment.
type SubscriptionStats struct {
	Type string // Exclusive, Shared, Failover or KeyShared
	// Reliable tells whether the subscription's topic is reliable.
	Reliable bool
	// Consumers counts the subscription's consumers, ActiveConsumers those that are active.
	Consumers, ActiveConsumers int
	// Cursor is the first offset not yet acknowledged: every message below it was acknowledged,
	// dropped or dead-lettered (reliable only).
	Cursor uint64
	// InFlight counts messages sent and awaiting their ack; Pending counts all messages in the
	// window (in flight, waiting for redelivery, blocked as poison or not yet sent); Backlog
	// counts retained messages not yet read into the window.
	InFlight, Pending int
	Backlog           uint64 // see InFlight
	// Counters since the subscription was loaded. Delivered counts every send, Redelivered the
	// sends after the first of a message. Dropped counts non-reliable messages nobody could take
	// and reliable poison messages dropped by policy; Skipped counts KeyShared messages no
	// consumer's filters accept.
	Delivered, Redelivered, Acked, DeadLettered, Dropped, Skipped uint64
}

// Unacked is the number of messages the subscription still has to get acknowledged:
// Pending + Backlog.
func (s SubscriptionStats) Unacked() uint64 { return uint64(s.Pending) + s.Backlog }

// Subscription returns the statistics of subscription sub on topic.
func (b *Broker) Subscription(topic, sub string) (SubscriptionStats, bool) {
	s := b.subscription(topic, sub)
	if s == nil {
		return SubscriptionStats{}, false
	}
	var visible uint64
	if s.reliable {
		visible = s.t.log.visible()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stats := SubscriptionStats{
		Type:         s.typ.String(),
		Reliable:     s.reliable,
		Consumers:    len(s.consumers),
		Pending:      len(s.pending),
		Delivered:    s.stats.delivered,
		Redelivered:  s.stats.redelivered,
		Acked:        s.stats.acked,
		DeadLettered: s.stats.deadLettered,
		Dropped:      s.stats.dropped,
		Skipped:      s.stats.skipped,
	}
	for _, c := range s.consumers {
		if c.ch != nil {
			stats.ActiveConsumers++
		}
	}
	if s.reliable {
		stats.Cursor = s.cursorLocked()
		stats.Backlog = visible - s.next
		for _, e := range s.pending {
			if e.state == stInFlight {
				stats.InFlight++
			}
		}
	}
	return stats, true
}

func (b *Broker) topic(name string) *topic {
	st := b.state()
	if st == nil {
		return nil
	}
	return st.topic(name)
}

func (b *Broker) subscription(topic, sub string) *subscription {
	t := b.topic(topic)
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.subs[sub]
}
