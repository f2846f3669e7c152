// Package connectors lists the built-in connectors the danube-connect
// command runs. The list is explicit (see [All]); importing a connector
// package registers nothing.
package connectors

import (
	"fmt"
	"io"
	"slices"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors/deltalake"
	"github.com/danube-connect/connect/connectors/file"
	"github.com/danube-connect/connect/connectors/generator"
	"github.com/danube-connect/connect/connectors/httpsink"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connectors/postgres"
	"github.com/danube-connect/connect/connectors/webhook"
)

// Kind says which way a connector moves records.
type Kind int

// Kinds.
const (
	// Source connectors publish records from an external system to Danube.
	Source Kind = iota
	// Sink connectors write records from Danube to an external system.
	Sink
)

// String returns "source" or "sink".
func (k Kind) String() string {
	if k == Sink {
		return "sink"
	}
	return "source"
}

// Env is what a connector factory receives.
type Env struct {
	// Core is the validated core configuration.
	Core *config.Core
	// Config is the connector's validated section, of the type returned by
	// Entry.NewConfig.
	Config any
	// Stdout is where a connector writing to standard output writes.
	Stdout io.Writer
}

// Entry describes one built-in connector.
type Entry struct {
	// Name is the value of the connector key and the name of its section.
	Name string
	// Kind is Source or Sink.
	Kind Kind
	// Summary is one line for the docs and --help.
	Summary string
	// NewConfig returns a new, zero configuration section (a pointer to a
	// struct with config tags).
	NewConfig func() any
	// NewSource builds a source and its destination topics (sources only).
	NewSource func(env Env) (connect.Source, []connect.SourceTopic, error)
	// NewSink builds a sink (sinks only).
	NewSink func(env Env) (connect.Sink, error)
}

// Finisher is implemented by connectors that can finish on their own (a
// generator with a count, a file sink with max_records): Done is closed
// when they have, and the command line then stops them gracefully.
type Finisher interface {
	Done() <-chan struct{}
}

// All returns the built-in connectors, sorted by name. Each call returns a
// new slice.
func All() []Entry {
	return []Entry{
		{
			Name:      "deltalake",
			Kind:      Sink,
			Summary:   "Writes records to Delta Lake tables (local directory or S3), exactly once per partition through Delta txn actions.",
			NewConfig: func() any { return &deltalake.Config{} },
			NewSink: func(env Env) (connect.Sink, error) {
				cfg, err := section[*deltalake.Config](env)
				if err != nil {
					return nil, err
				}
				return newDeltaLake(*cfg, env.Core)
			},
		},
		{
			Name:      "file",
			Kind:      Sink,
			Summary:   "Writes records as JSON lines to a file or standard output.",
			NewConfig: func() any { return &file.Config{} },
			NewSink: func(env Env) (connect.Sink, error) {
				cfg, err := section[*file.Config](env)
				if err != nil {
					return nil, err
				}
				return file.New(*cfg, env.Stdout), nil
			},
		},
		{
			Name:      "generator",
			Kind:      Source,
			Summary:   "Publishes numbered records at a set rate, up to a count; resumes after its last committed sequence number.",
			NewConfig: func() any { return &generator.Config{} },
			NewSource: func(env Env) (connect.Source, []connect.SourceTopic, error) {
				cfg, err := section[*generator.Config](env)
				if err != nil {
					return nil, nil, err
				}
				return generator.New(*cfg), cfg.Topics(), nil
			},
		},
		{
			Name:      "http",
			Kind:      Sink,
			Summary:   "Sends each record (or each batch, as a JSON array or NDJSON) to an HTTP endpoint; acks on 2xx, retries 408/429/5xx honouring Retry-After, dead-letters other 4xx.",
			NewConfig: func() any { return &httpsink.Config{} },
			NewSink: func(env Env) (connect.Sink, error) {
				cfg, err := section[*httpsink.Config](env)
				if err != nil {
					return nil, err
				}
				return httpsink.New(*cfg)
			},
		},
		{
			Name:      "mqtt",
			Kind:      Source,
			Summary:   "Subscribes to MQTT topic filters (3.1.1 or 5) and publishes the messages; QoS 1 and 2 are acknowledged to the MQTT broker only after Danube confirmed them.",
			NewConfig: func() any { return &mqtt.Config{} },
			NewSource: func(env Env) (connect.Source, []connect.SourceTopic, error) {
				cfg, err := section[*mqtt.Config](env)
				if err != nil {
					return nil, nil, err
				}
				return mqtt.New(*cfg), cfg.Topics(), nil
			},
		},
		{
			Name:      "postgres",
			Kind:      Sink,
			Summary:   "Writes records to PostgreSQL tables (COPY, upsert or JSONB), exactly once per subscription and partition by default.",
			NewConfig: func() any { return &postgres.Config{} },
			NewSink: func(env Env) (connect.Sink, error) {
				cfg, err := section[*postgres.Config](env)
				if err != nil {
					return nil, err
				}
				subs := map[string]string{}
				if env.Core != nil {
					for _, t := range env.Core.Topics {
						if t.Subscription != "" {
							subs[t.Topic] = t.Subscription
						}
					}
				}
				return postgres.New(*cfg, postgres.WithSubscriptions(subs)), nil
			},
		},
		{
			Name:      "webhook",
			Kind:      Source,
			Summary:   "Receives HTTP requests (JSON, NDJSON or raw bodies) on authenticated, rate-limited routes and answers 2xx once the broker stored every record.",
			NewConfig: func() any { return &webhook.Config{} },
			NewSource: func(env Env) (connect.Source, []connect.SourceTopic, error) {
				cfg, err := section[*webhook.Config](env)
				if err != nil {
					return nil, nil, err
				}
				src, err := webhook.New(*cfg)
				if err != nil {
					return nil, nil, err
				}
				return src, cfg.Topics(), nil
			},
		},
	}
}

func newDeltaLake(cfg deltalake.Config, core *config.Core) (connect.Sink, error) {
	opts := deltalake.Options{Subscriptions: map[string]string{}}
	if core != nil {
		if cfg.ExactlyOnce && core.Processing.Parallelism > 1 {
			return nil, connect.Configuration(fmt.Errorf("deltalake: exactly_once needs processing.parallelism = 1 (it is %d): set deltalake.exactly_once = false to write at least once in parallel", core.Processing.Parallelism))
		}
		opts.ServiceURL, opts.ClientOptions = core.DanubeServiceURL, core.ClientOptions()
		for _, t := range core.Topics {
			opts.Subscriptions[t.Topic] = t.Subscription
		}
	}
	return deltalake.New(cfg, opts), nil
}

func section[T any](env Env) (T, error) {
	cfg, ok := env.Config.(T)
	if !ok {
		var zero T
		return zero, connect.Configuration(fmt.Errorf("connector config is %T, want %T", env.Config, zero))
	}
	return cfg, nil
}

// Lookup returns the connector named name.
func Lookup(name string) (Entry, bool) {
	i := slices.IndexFunc(All(), func(e Entry) bool { return e.Name == name })
	if i < 0 {
		return Entry{}, false
	}
	return All()[i], true
}

// Catalog returns the built-in connectors as a [config.Catalog], for
// [config.LoadDocument].
func Catalog() config.Catalog { return catalog{} }

type catalog struct{}

func (catalog) Section(name string) (any, bool) {
	e, ok := Lookup(name)
	if !ok {
		return nil, false
	}
	return e.NewConfig(), true
}

func (catalog) Names() []string {
	var out []string
	for _, e := range All() {
		out = append(out, e.Name)
	}
	return out
}
