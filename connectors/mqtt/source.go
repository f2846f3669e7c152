// Package mqtt is the MQTT source connector: it subscribes to MQTT topic
// filters on a broker (MQTT 3.1.1 through Eclipse Paho's
// paho.mqtt.golang, MQTT 5 through paho.golang) and publishes each message
// to the Danube topic of the first route whose filter matches.
//
// Delivery: QoS 1 and 2 messages are acknowledged to the MQTT broker
// (PUBACK, PUBREC) only after Danube confirmed them, in the order they were
// received, over a persistent session; at most receive_maximum messages are
// received and unacknowledged at a time. A crash or a lost connection
// makes the broker redeliver the unacknowledged ones: at-least-once, with
// at most receive_maximum duplicates per crash. QoS 0 is at-most-once.
package mqtt

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/danube-connect/connect"
)

// Attribute names set on every record when include_metadata is true.
const (
	AttrTopic           = "mqtt.topic"
	AttrQoS             = "mqtt.qos"
	AttrRetain          = "mqtt.retain"
	AttrDup             = "mqtt.dup"
	AttrMessageID       = "mqtt.message_id"
	AttrContentType     = "mqtt.content_type"     // MQTT 5
	AttrCorrelationData = "mqtt.correlation_data" // MQTT 5; base64 when not UTF-8, see AttrCorrelationB64
	AttrCorrelationB64  = "mqtt.correlation_data_base64"
	AttrResponseTopic   = "mqtt.response_topic" // MQTT 5
	AttrUserPrefix      = "mqtt.user."          // MQTT 5 user properties: mqtt.user.NAME
)

// Source is the MQTT source. Create it with [New]; the source runtime
// calls its methods (it is a [connect.StreamSource]).
type Source struct {
	cfg    Config
	routes []Route
	log    *slog.Logger

	clientID string
	urls     []*url.URL
	tlsCfg   *tls.Config

	mu        sync.Mutex
	connected bool
	lastErr   error

	received atomic.Uint64
	dropped  atomic.Uint64
	queue    atomic.Pointer[ackQueue]

	onAck func(topic string, payload []byte) // tests: called after each MQTT acknowledgement
}

var (
	_ connect.Source        = (*Source)(nil)
	_ connect.StreamSource  = (*Source)(nil)
	_ connect.HealthChecker = (*Source)(nil)
)

// New returns a source for cfg (defaults applied, validated).
func New(cfg Config) *Source {
	return &Source{cfg: cfg, routes: cfg.AllRoutes(), log: slog.New(slog.DiscardHandler)}
}

// Open resolves the broker URLs, the client id and the TLS files. A bad
// URL or an unreadable certificate is a Configuration error.
func (s *Source) Open(_ context.Context, env connect.SourceEnv) error {
	if env.Logger != nil {
		s.log = env.Logger
	}
	if len(s.routes) == 0 {
		return connect.Configuration(errors.New("mqtt: no routes"))
	}
	s.clientID = s.cfg.ClientID
	if s.clientID == "" {
		s.clientID = env.Name
	}
	if s.clientID == "" {
		return connect.Configuration(errors.New("mqtt: client_id is empty and the connector has no name"))
	}
	urls, err := s.cfg.BrokerURLs()
	if err != nil {
		return err
	}
	s.urls = urls
	if s.tlsCfg, err = tlsConfig(s.cfg); err != nil {
		return connect.Configuration(err)
	}
	for _, u := range urls {
		if !s.cfg.TCPNoDelay && (u.Scheme == "ws" || u.Scheme == "wss") {
			return connect.Configuration(fmt.Errorf("mqtt: tcp_nodelay = false is not supported with %s", u.Redacted()))
		}
	}
	return nil
}

// Poll is never called: the source streams.
func (s *Source) Poll(context.Context) ([]connect.SourceRecord, error) { return nil, nil }

// Stream connects, subscribes to every route (again on every reconnect)
// and emits each message until ctx is done. A refused login is a
// Configuration error; network failures are retried (health reports them).
func (s *Source) Stream(ctx context.Context, em *connect.Emitter) error {
	q := newAckQueue(s.cfg.ReceiveMaximum)
	s.queue.Store(q)
	// Acknowledgements go on after ctx is done, while the runtime answers
	// the records in flight (see drain).
	ackCtx, stopAcks := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { q.Run(ackCtx) })
	defer func() { stopAcks(); wg.Wait() }()
	d := &deliverer{s: s, em: em, q: q}
	if s.cfg.ProtocolVersion == "5" {
		return s.streamV5(ctx, d)
	}
	return s.streamV3(ctx, d)
}

// drainTimeout bounds how long a stopping Stream keeps the connection to
// send the acknowledgements of records the runtime confirms while draining.
const drainTimeout = 5 * time.Second

// Close does nothing: Stream owns the connection and closes it on return.
func (s *Source) Close(context.Context) error { return nil }

// HealthCheck fails while the connection to the MQTT broker is down.
func (s *Source) HealthCheck(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected {
		return nil
	}
	if s.lastErr != nil {
		return fmt.Errorf("mqtt: not connected to the broker: %w", s.lastErr)
	}
	return errors.New("mqtt: not connected to the broker")
}

func (s *Source) setConnected(ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connected = ok
	if err != nil {
		s.lastErr = err
	}
}

// Stats are counters for tests and diagnostics.
type Stats struct {
	Received uint64 // messages received from the broker
	Dropped  uint64 // messages acknowledged without a record (too large, no route, invalid)
	Acked    uint64 // acknowledgements handed to the client (QoS 0 included)
	Unacked  int    // received and not acknowledged now
}

// Stats returns the current counters.
func (s *Source) Stats() Stats {
	st := Stats{Received: s.received.Load(), Dropped: s.dropped.Load()}
	if q := s.queue.Load(); q != nil {
		q.mu.Lock()
		st.Acked = q.sent
		q.mu.Unlock()
		st.Unacked = q.Unacked()
	}
	return st
}

// message is one received MQTT message, independent of the client library.
type message struct {
	topic    string
	qos      byte
	retain   bool
	dup      bool
	id       uint16
	payload  []byte
	v5       *v5props // nil for MQTT 3.1.1
	ack      func()   // sends PUBACK/PUBREC; nil for QoS 0
	received int      // packet size estimate for max_packet_size
	subID    int      // MQTT 5 subscription identifier: route index + 1; 0 unknown
}

// v5props are the MQTT 5 properties kept as attributes.
type v5props struct {
	contentType   string
	correlation   []byte
	responseTopic string
	user          [][2]string
}

// deliverer turns received messages into emitted records. Deliver is
// called on the client's one delivery goroutine, in receive order.
type deliverer struct {
	s  *Source
	em *connect.Emitter
	q  *ackQueue
}

// Deliver emits m and arranges its acknowledgement once Danube confirmed
// it. It blocks while receive_maximum messages are unacknowledged and
// while the runtime has no room; it returns early when ctx is done
// (the message then stays unacknowledged and is redelivered).
func (d *deliverer) Deliver(ctx context.Context, m message) {
	s := d.s
	s.received.Add(1)
	ack := m.ack
	if s.onAck != nil && ack != nil {
		ack = func() { m.ack(); s.onAck(m.topic, m.payload) }
	}
	p, err := d.q.Acquire(ctx, ack)
	if err != nil {
		return
	}
	skip := func(msg string, args ...any) {
		s.dropped.Add(1)
		s.log.Error(msg, append([]any{"mqtt_topic", m.topic, "qos", m.qos}, args...)...)
		d.q.Confirm(p, nil)
	}
	if max := s.cfg.MaxPacketSize; max > 0 && m.received > max {
		skip("mqtt: message larger than max_packet_size dropped", "size", m.received, "max_packet_size", max)
		return
	}
	i, ok := s.route(m.topic)
	if ok && m.subID > 0 && m.subID != i+1 {
		// The copy an MQTT 5 broker sends for another, overlapping route's
		// subscription: the first matching route's copy carries it.
		d.q.Confirm(p, nil)
		return
	}
	r := s.routes[i]
	if !ok {
		skip("mqtt: message matches no route (a subscription left in the persistent session?) dropped")
		return
	}
	rec := connect.NewRecord(r.To, m.payload)
	if r.Key == "topic" {
		rec.Key = m.topic
	}
	if s.cfg.IncludeMetadata {
		rec.Attributes = attributes(m)
	}
	err = d.em.Emit(ctx, rec, func(err error) { d.q.Confirm(p, err) })
	switch {
	case err == nil:
	case connect.ClassOf(err) == connect.ClassInvalidData:
		skip("mqtt: message is not a valid record for its topic; dropped", "danube_topic", r.To, "err", err)
	default:
		d.q.Confirm(p, err) // stopping: hold this and later acknowledgements
	}
}

// route returns the index of the first route whose filter matches topic.
func (s *Source) route(topic string) (int, bool) {
	for i, r := range s.routes {
		if matches(r.From, topic) {
			return i, true
		}
	}
	return 0, false
}

func attributes(m message) map[string]string {
	a := map[string]string{
		AttrTopic:  m.topic,
		AttrQoS:    strconv.Itoa(int(m.qos)),
		AttrRetain: strconv.FormatBool(m.retain),
		AttrDup:    strconv.FormatBool(m.dup),
	}
	if m.qos > 0 {
		a[AttrMessageID] = strconv.Itoa(int(m.id))
	}
	if p := m.v5; p != nil {
		if p.contentType != "" {
			a[AttrContentType] = p.contentType
		}
		if p.responseTopic != "" {
			a[AttrResponseTopic] = p.responseTopic
		}
		if len(p.correlation) > 0 {
			if utf8.Valid(p.correlation) {
				a[AttrCorrelationData] = string(p.correlation)
			} else {
				a[AttrCorrelationB64] = base64.StdEncoding.EncodeToString(p.correlation)
			}
		}
		for _, kv := range p.user {
			a[AttrUserPrefix+kv[0]] = kv[1]
		}
	}
	return a
}
