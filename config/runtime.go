package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/schema"
)

// ClientOptions returns the client options the core keys imply (token, CA
// file).
func (c *Core) ClientOptions() []danube.ClientOption {
	var opts []danube.ClientOption
	if c.Auth.Token != "" {
		opts = append(opts, danube.WithToken(c.Auth.Token))
	}
	if c.Auth.CAFile != "" {
		opts = append(opts, danube.WithCAFile(c.Auth.CAFile))
	}
	return opts
}

// RetryPolicy converts [retry] to the runtime's policy.
func (c *Core) RetryPolicy() connect.RetryPolicy {
	r := c.Retry
	p := connect.RetryPolicy{
		MaxRetries: none(r.MaxRetries, -1),
		Initial:    time.Duration(r.RetryBackoffMS) * time.Millisecond,
		Max:        time.Duration(r.MaxBackoffMS) * time.Millisecond,
		Jitter:     none(r.Jitter, -1),
	}
	p.Backoff, _ = connect.ParseBackoff(r.Backoff) // validated by the enum tag
	return p
}

// SubscriptionType converts a validated subscription_type value.
func SubscriptionType(s string) danube.SubscriptionType {
	switch s {
	case "exclusive":
		return danube.Exclusive
	case "failover":
		return danube.Failover
	case "key_shared":
		return danube.KeyShared
	}
	return danube.Shared
}

// SinkConfig converts the core keys to a sink runtime configuration. The
// caller adds decoders and connector-specific settings.
func (c *Core) SinkConfig() connect.SinkConfig {
	cfg := connect.SinkConfig{
		Name:          c.ConnectorName,
		ServiceURL:    c.DanubeServiceURL,
		ClientOptions: c.ClientOptions(),
		Retry:         c.RetryPolicy(),
		Breaker:       connect.BreakerPolicy{FailureThreshold: c.Breaker.FailureThreshold, Cooldown: c.Breaker.Cooldown},
		Batch: connect.BatchPolicy{
			MaxRecords: c.Processing.BatchSize,
			MaxBytes:   c.Processing.BatchMaxBytes,
			MaxWait:    time.Duration(c.Processing.BatchTimeoutMS) * time.Millisecond,
		},
		MaxInFlight:  c.Processing.MaxInFlight,
		Parallelism:  c.Processing.Parallelism,
		DrainTimeout: none(c.Processing.DrainTimeout, time.Nanosecond),
	}
	cfg.Breaker.Cooldown = none(cfg.Breaker.Cooldown, time.Nanosecond)
	for _, t := range c.Topics {
		on := t.OnExhausted
		if on == "" {
			on = c.DeadLetter.OnExhausted
		}
		ex, _ := connect.ParseExhausted(on)
		nack := t.NackDelay
		if nack == 0 {
			nack = c.DeadLetter.NackDelay
		}
		redeliveries := t.MaxRedeliveries
		if redeliveries == 0 {
			redeliveries = c.DeadLetter.MaxRedeliveries
		}
		if redeliveries == 0 {
			redeliveries = -1 // dead-letter at the first exhaustion is ExhaustedDeadLetter; 0 in the file means "never nack twice"
			ex = connect.ExhaustedDeadLetter
		}
		st := connect.SinkTopic{
			Topic:            t.Topic,
			Subscription:     t.Subscription,
			SubscriptionType: SubscriptionType(t.SubscriptionType),
			SchemaSubject:    t.SchemaSubject,
			DLQTopic:         t.DLQTopic,
			OnExhausted:      ex,
			NackDelay:        none(nack, time.Nanosecond),
			MaxRedeliveries:  redeliveries,
		}
		if s, _ := c.SchemaFor(t.Topic); s != nil {
			if st.SchemaSubject == "" {
				st.SchemaSubject = s.Subject
			}
			st.NumberFormat, _ = schema.ParseNumberFormat(s.NumberFormat) // validated by the enum tag
		}
		cfg.Topics = append(cfg.Topics, st)
	}
	return cfg
}

// SourceConfig converts the core keys to a source runtime configuration
// publishing to topics (declared by the connector's section). Each topic
// with a [[schemas]] entry gets the schema.Spec it describes (replacing a
// Spec the connector set), its schema_file read now; the runtime registers
// and resolves it at start. The topics slice is not modified.
//
// A [[schemas]] entry matching none of topics, or a schema_file that
// cannot be read, is a Configuration error naming the key.
func (c *Core) SourceConfig(topics []connect.SourceTopic) (connect.SourceConfig, error) {
	cfg := connect.SourceConfig{
		Name:           c.ConnectorName,
		ServiceURL:     c.DanubeServiceURL,
		ClientOptions:  c.ClientOptions(),
		Topics:         topics,
		Retry:          c.RetryPolicy(),
		MaxInFlight:    c.Processing.MaxInFlight,
		PollInterval:   time.Duration(c.Processing.PollIntervalMS) * time.Millisecond,
		CommitInterval: none(c.Source.CommitInterval, time.Nanosecond),
		DrainTimeout:   none(c.Processing.DrainTimeout, time.Nanosecond),
		OffsetDir:      c.Source.OffsetsDir,
	}
	cfg.Ordering, _ = connect.ParseOrdering(c.Source.Ordering) // validated by the enum tag
	if len(c.Schemas) == 0 {
		return cfg, nil
	}
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Topic
	}
	probs := c.SchemaProblems(names)
	cfg.Topics = append([]connect.SourceTopic(nil), topics...)
	for i := range cfg.Topics {
		t := &cfg.Topics[i]
		s, idx := c.SchemaFor(t.Topic)
		if s == nil {
			continue
		}
		spec, err := s.Spec(t.Topic)
		if fe, ok := errors.AsType[*FieldError](err); ok {
			probs = append(probs, &FieldError{Path: fmt.Sprintf("schemas[%d].%s", idx, fe.Path), Msg: fe.Msg})
			continue
		}
		t.Schema = spec
	}
	if err := newError("", probs); err != nil {
		return connect.SourceConfig{}, connect.Configuration(err)
	}
	return cfg, nil
}

// Spec returns the schema.Spec of the entry for a source publishing to
// topic, reading schema_file (relative to the working directory). The
// error, a *FieldError, names the key at fault relative to the entry.
func (s *Schema) Spec(topic string) (*schema.Spec, error) {
	typ, err := schema.ParseType(s.SchemaType)
	if err != nil {
		return nil, &FieldError{Path: "schema_type", Msg: err.Error()}
	}
	spec := &schema.Spec{Topic: topic, Subject: s.Subject, Type: typ, Version: s.VersionStrategy.VersionRef, AutoRegister: s.AutoRegister}
	if spec.AvroEncoding, err = schema.ParseAvroEncoding(s.AvroEncoding); err != nil {
		return nil, &FieldError{Path: "avro_encoding", Msg: err.Error()}
	}
	if spec.NumberFormat, err = schema.ParseNumberFormat(s.NumberFormat); err != nil {
		return nil, &FieldError{Path: "number_format", Msg: err.Error()}
	}
	if s.SchemaFile != "" {
		def, err := os.ReadFile(s.SchemaFile)
		if err != nil {
			return nil, &FieldError{Path: "schema_file", Msg: fileProblem(s.SchemaFile, err)}
		}
		spec.Definition = def
	}
	return spec, nil
}

// none converts a value a file sets to zero ("none": no retries, no
// jitter, no wait) to the runtime's spelling of none, since a zero field of
// the Go API means "the default". This is the one difference between the
// two: their defaults are the same numbers (see TestDefaultsAgree).
func none[T int | float64 | time.Duration](v, spelledNone T) T {
	if v == 0 {
		return spelledNone
	}
	return v
}

// DefaultHTTPAddr is where the HTTP endpoints listen when neither
// observability.http_addr nor processing.metrics_port is set (the Rust
// SDK's default metrics port).
const DefaultHTTPAddr = ":9090"

// ListenAddr returns the address of the HTTP endpoints: observability.
// http_addr, else ":" + processing.metrics_port, else DefaultHTTPAddr; ""
// when disabled ("off").
func (c *Core) ListenAddr() string {
	switch a := c.Observability.HTTPAddr; {
	case a == "off":
		return ""
	case a != "":
		return a
	case c.Processing.MetricsPort != 0:
		return ":" + strconv.Itoa(c.Processing.MetricsPort)
	}
	return DefaultHTTPAddr
}

// LogLevel returns observability.log_level, else processing.log_level.
func (c *Core) LogLevel() slog.Level {
	s := c.Observability.LogLevel
	if s == "" {
		s = c.Processing.LogLevel
	}
	return ParseLevel(s)
}

// ParseLevel maps trace, debug, info, warn and error to slog levels (info
// for anything else).
func ParseLevel(s string) slog.Level {
	switch s {
	case "trace", "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
