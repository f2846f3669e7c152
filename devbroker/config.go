package devbroker

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// SyncPolicy says when appends to reliable topic logs reach stable storage. It matters only with
// a [Config.DataDir].
type SyncPolicy int

const (
	// SyncBatched (the default) is group commit: concurrent publishes share one write and one
	// fsync, and every SendMessage is answered only after the fsync that covers it.
	SyncBatched SyncPolicy = iota
	// SyncEveryPublish writes and fsyncs each message on its own before answering its
	// SendMessage. Slowest; every publish costs one fsync.
	SyncEveryPublish
	// SyncNever writes each message to the file (batched like SyncBatched) before answering but
	// never fsyncs: data survives a kill of the process, not a power loss or kernel crash.
	SyncNever
)

// String returns the policy's name.
func (p SyncPolicy) String() string {
	switch p {
	case SyncBatched:
		return "batched"
	case SyncEveryPublish:
		return "every_publish"
	case SyncNever:
		return "never"
	}
	return "unknown"
}

// Backoff is how redelivery delays grow with the number of deliveries of a message.
type Backoff int

const (
	// Exponential waits BaseRedeliveryDelay × 2^(n−1) after the n-th delivery failed (the default).
	Exponential Backoff = iota
	// Fixed always waits BaseRedeliveryDelay.
	Fixed
)

// PoisonPolicy is what happens to a message that failed more than MaxRedeliveryCount deliveries.
type PoisonPolicy int

const (
	// Block (the default) keeps the message in the subscription's window: nothing new is
	// dispatched on Exclusive, Failover and Shared subscriptions, and its key stalls on KeyShared
	// ones.
	Block PoisonPolicy = iota
	// Drop skips the message; the cursor moves past it.
	Drop
	// DeadLetter publishes a copy to [FailurePolicy.DeadLetterTopic] (a reliable topic,
	// auto-created) and then skips the original.
	DeadLetter
)

// String returns the policy's name as the broker spells it in x-poison-policy.
func (p PoisonPolicy) String() string {
	switch p {
	case Block:
		return "block"
	case Drop:
		return "drop"
	case DeadLetter:
		return "dead_letter"
	}
	return "unknown"
}

// FailurePolicy governs redelivery on a reliable subscription. Zero fields take the defaults of a
// Danube broker: 5 redeliveries, 30 s ack timeout, 1 s base delay, 60 s maximum delay,
// exponential backoff, poison policy Block.
type FailurePolicy struct {
	// MaxRedeliveryCount is how many times a message may be redelivered; the poison policy
	// applies when delivery number MaxRedeliveryCount+1 fails. Zero means 5; a negative value
	// means no redelivery at all (the first failure is final).
	MaxRedeliveryCount int
	// AckTimeout is how long a delivered message may stay unacknowledged before it counts as
	// failed (reason "ack timeout"). Zero means 30 s.
	AckTimeout time.Duration
	// BaseRedeliveryDelay is the first redelivery delay. Zero means 1 s; a negative value means
	// no delay.
	BaseRedeliveryDelay time.Duration
	// MaxRedeliveryDelay caps every redelivery delay, including delays requested by Nack.
	// Zero means 60 s.
	MaxRedeliveryDelay time.Duration
	// Backoff is Exponential (default) or Fixed.
	Backoff Backoff
	// Poison is what happens to a retry-exhausted message: Block (default), Drop or DeadLetter.
	Poison PoisonPolicy
	// DeadLetterTopic receives copies of poison messages under DeadLetter. Without it,
	// DeadLetter behaves like Block.
	DeadLetterTopic string
}

// withDefaults returns p with zero fields replaced by the broker defaults.
func (p FailurePolicy) withDefaults() FailurePolicy {
	if p.MaxRedeliveryCount == 0 {
		p.MaxRedeliveryCount = 5
	} else if p.MaxRedeliveryCount < 0 {
		p.MaxRedeliveryCount = 0
	}
	if p.AckTimeout <= 0 {
		p.AckTimeout = 30 * time.Second
	}
	if p.BaseRedeliveryDelay == 0 {
		p.BaseRedeliveryDelay = time.Second
	} else if p.BaseRedeliveryDelay < 0 {
		p.BaseRedeliveryDelay = 0
	}
	if p.MaxRedeliveryDelay <= 0 {
		p.MaxRedeliveryDelay = 60 * time.Second
	}
	return p
}

// delay is the redelivery delay after the n-th delivery of a message failed, given the delay the
// client asked for (0 if none): min(max(policy delay, requested), MaxRedeliveryDelay).
func (p FailurePolicy) delay(n int, requested time.Duration) time.Duration {
	d := p.BaseRedeliveryDelay
	if p.Backoff == Exponential {
		for i := 1; i < n && d < p.MaxRedeliveryDelay; i++ {
			d *= 2
		}
	}
	d = max(d, requested)
	return min(d, p.MaxRedeliveryDelay)
}

// Config configures a [Broker]. The zero value is a usable in-memory broker on 127.0.0.1 with a
// random port.
type Config struct {
	// Addr is the listen address. Default "127.0.0.1:0" (a random free port).
	Addr string
	// DataDir holds the persistent state. "" keeps everything in memory (lost on Restart/Close).
	DataDir string
	// Sync is the fsync policy for reliable topic logs; default SyncBatched.
	Sync SyncPolicy
	// AdvertisedURL is the URL TopicLookup answers with. Default "http://" + the listen
	// address ("https://" with TLS).
	AdvertisedURL string
	// Namespaces are created at start-up in addition to "default" and "system".
	Namespaces []string
	// DisableAutoCreate makes CreateProducer answer NOT_FOUND for unknown topics.
	DisableAutoCreate bool
	// MaxUnackedMessages is the per-subscription window of reliable subscriptions. Default 10.
	MaxUnackedMessages int
	// MaxMessageSize limits payloads in bytes (INVALID_ARGUMENT beyond it). 0 = no limit
	// (below gRPC's 4 MiB request limit, which answers OUT_OF_RANGE like a Danube broker).
	MaxMessageSize int
	// FailurePolicy applies to every reliable subscription unless overridden with
	// [Broker.SetFailurePolicy]. Zero fields take the broker defaults.
	FailurePolicy FailurePolicy
	// RetentionBytes bounds, per reliable topic, the messages kept once every subscription
	// acknowledged them: the oldest acknowledged ones are deleted while the topic holds more
	// (whole segment files with a DataDir, counting their size; single messages in memory,
	// counting their encoded size plus a fixed per-message overhead). Unacknowledged messages
	// are never deleted. Default 4 MiB; a negative value sets no size limit.
	RetentionBytes int64
	// RetentionTime deletes acknowledged messages (segment files, with a DataDir) older than
	// this. Default 10 minutes; a negative value sets no time limit. With both limits negative
	// the broker keeps every message.
	RetentionTime time.Duration
	// SegmentBytes is the size at which a reliable topic's log starts a new segment file, the
	// unit the retention deletes with a DataDir. Default 1 MiB.
	SegmentBytes int64
	// ReadCacheBytes bounds, per reliable topic with a DataDir, the most recent messages kept in
	// memory; older ones are read from the segment files. Default 1 MiB.
	ReadCacheBytes int64
	// TimerTick is how often ack timeouts and redelivery delays are checked, which bounds their
	// precision, and how often the retention runs. Default 100 ms; tests use a few milliseconds.
	TimerTick time.Duration
	// TLS, when set, serves TLS with this configuration instead of h2c.
	TLS *tls.Config
	// JWTSecret, when set, requires `authorization: Bearer <HS256 JWT>` on every RPC.
	JWTSecret []byte
	// Logger receives lifecycle logs. Default discards.
	Logger *slog.Logger
}

const (
	defaultAddr      = "127.0.0.1:0"
	defaultUnacked   = 10
	defaultTimerTick = 100 * time.Millisecond
	grpcMaxRequest   = 4 << 20 // the broker's inbound message limit
)

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	if c.MaxUnackedMessages <= 0 {
		c.MaxUnackedMessages = defaultUnacked
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = defaultRetentionBytes
	}
	if c.RetentionTime == 0 {
		c.RetentionTime = defaultRetentionTime
	}
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = defaultSegmentBytes
	}
	if c.ReadCacheBytes <= 0 {
		c.ReadCacheBytes = defaultReadCacheBytes
	}
	if c.TimerTick <= 0 {
		c.TimerTick = defaultTimerTick
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
