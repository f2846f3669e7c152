package connect

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values of danube_connector_messages_failed_total's
// error_type, besides the four class names.
const (
	failedDLQ       = "dlq_failed"     // a dead-letter publish failed (retried)
	failedPublish   = "publish_failed" // a source publish failed (retried)
	failedAck       = "ack_failed"     // an ack or nack RPC failed (redelivery follows)
	failedExhausted = "exhausted"      // retries exhausted (nacked or dead-lettered)
)

// metrics holds the runtime's collectors; nil when metrics are disabled.
// Collectors are registered on the Registerer given with WithMetrics; when
// another runtime already registered them there, the existing ones are
// shared.
type metrics struct {
	received   *prometheus.CounterVec
	processed  *prometheus.CounterVec
	failed     *prometheus.CounterVec
	retried    *prometheus.CounterVec
	processing *prometheus.HistogramVec
	inflight   *prometheus.GaugeVec
	publish    *prometheus.HistogramVec
	batchSize  *prometheus.HistogramVec
	dlq        *prometheus.CounterVec
	e2e        *prometheus.HistogramVec
	health     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	lt := []string{"connector", "topic"}
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "danube_connector_messages_received_total",
			Help: "Records received from the broker (sink) or the external system (source)."}, lt),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "danube_connector_messages_processed_total",
			Help: "Records handled: written and acked (sink) or published and confirmed (source)."}, lt),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "danube_connector_messages_failed_total",
			Help: "Record failures by error type (error class, exhausted, dlq_failed, publish_failed, ack_failed)."},
			[]string{"connector", "topic", "error_type"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "danube_connector_messages_retried_total",
			Help: "Retries of writes or publishes."}, lt),
		processing: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "danube_connector_processing_duration_seconds",
			Help: "Duration of one Write or WriteBatch call.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, lt),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "danube_connector_inflight_messages",
			Help: "Records received and not yet resolved (sink) or published and not yet confirmed (source)."}, lt),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "danube_connector_publish_duration_seconds",
			Help: "Time from publish to broker confirmation.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, lt),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "danube_connector_batch_size",
			Help: "Records per batch handed to the connector or polled from it.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}, lt),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "danube_connector_dlq_messages_total",
			Help: "Records dead-lettered (confirmed by the broker)."}, lt),
		e2e: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "danube_connector_end_to_end_latency_seconds",
			Help: "Time from the producer's publish time to the record being handled by the sink.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, lt),
		health: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "danube_connector_health",
			Help: "1 while the connector runs with a closed circuit breaker, 0 otherwise."}, []string{"connector"}),
	}
	var err error
	register := func(c prometheus.Collector) prometheus.Collector {
		if e := reg.Register(c); e != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(e, &are) {
				return are.ExistingCollector
			}
			err = errors.Join(err, e)
		}
		return c
	}
	m.received = register(m.received).(*prometheus.CounterVec)
	m.processed = register(m.processed).(*prometheus.CounterVec)
	m.failed = register(m.failed).(*prometheus.CounterVec)
	m.retried = register(m.retried).(*prometheus.CounterVec)
	m.processing = register(m.processing).(*prometheus.HistogramVec)
	m.inflight = register(m.inflight).(*prometheus.GaugeVec)
	m.publish = register(m.publish).(*prometheus.HistogramVec)
	m.batchSize = register(m.batchSize).(*prometheus.HistogramVec)
	m.dlq = register(m.dlq).(*prometheus.CounterVec)
	m.e2e = register(m.e2e).(*prometheus.HistogramVec)
	m.health = register(m.health).(*prometheus.GaugeVec)
	if err != nil {
		return nil, Configuration(err)
	}
	return m, nil
}

// topicMetrics are the collectors of one (connector, topic) pair, resolved
// once so that the per-record path does no label lookups. The zero value
// (metrics disabled) is valid: every method is a no-op.
type topicMetrics struct {
	on         bool
	received   prometheus.Counter
	processed  prometheus.Counter
	retried    prometheus.Counter
	processing prometheus.Observer
	inflight   prometheus.Gauge
	publish    prometheus.Observer
	batchSize  prometheus.Observer
	dlq        prometheus.Counter
	e2e        prometheus.Observer
	failed     map[string]prometheus.Counter
}

func (m *metrics) forTopic(connector, topic string) *topicMetrics {
	if m == nil {
		return &topicMetrics{}
	}
	tm := &topicMetrics{
		on:         true,
		received:   m.received.WithLabelValues(connector, topic),
		processed:  m.processed.WithLabelValues(connector, topic),
		retried:    m.retried.WithLabelValues(connector, topic),
		processing: m.processing.WithLabelValues(connector, topic),
		inflight:   m.inflight.WithLabelValues(connector, topic),
		publish:    m.publish.WithLabelValues(connector, topic),
		batchSize:  m.batchSize.WithLabelValues(connector, topic),
		dlq:        m.dlq.WithLabelValues(connector, topic),
		e2e:        m.e2e.WithLabelValues(connector, topic),
		failed:     map[string]prometheus.Counter{},
	}
	for _, t := range []string{ClassRetryable.String(), ClassInvalidData.String(), ClassFatal.String(),
		ClassConfiguration.String(), failedDLQ, failedPublish, failedAck, failedExhausted} {
		tm.failed[t] = m.failed.WithLabelValues(connector, topic, t)
	}
	return tm
}

func (m *metrics) setHealth(connector string, ok bool) {
	if m == nil {
		return
	}
	v := 0.0
	if ok {
		v = 1
	}
	m.health.WithLabelValues(connector).Set(v)
}

func (tm *topicMetrics) fail(errorType string) {
	if c := tm.failed[errorType]; tm.on && c != nil {
		c.Inc()
	}
}
