package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/topicname"
)

// Core is the part of a connector configuration file shared by every
// connector. Its keys are those of the Rust SDK's ConnectorConfig
// (danube_service_url, connector_name, [retry], [processing], [[schemas]]),
// with the same meaning and defaults, so a Rust connector's core file loads
// unchanged, plus sections the Rust SDK lacks.
type Core struct {
	DanubeServiceURL string `config:"danube_service_url" default:"http://127.0.0.1:6650" doc:"Danube broker URL, http:// or https:// (env DANUBE_SERVICE_URL)."`
	ConnectorName    string `config:"connector_name" required:"true" doc:"Unique connector name: consumer and producer name, default subscription, offset file name and metrics label (env CONNECTOR_NAME)."`
	Connector        string `config:"connector" doc:"Built-in connector to run (see the connector sections below); its settings are in the table of the same name, e.g. [generator]. When absent, the only connector table in the file names it (Rust files have [mqtt] and no connector key)."`

	Auth          Auth          `config:"auth" doc:"Broker authentication."`
	Retry         Retry         `config:"retry" doc:"Retries of failed writes (sinks) and publishes or polls (sources)."`
	Processing    Processing    `config:"processing" doc:"Batching, concurrency and runtime settings."`
	Schemas       []Schema      `config:"schemas" doc:"Schema registry subject of a topic ([[schemas]]): a source tags its messages with it (registering it with auto_register) and dead-letters records that do not match it; a sink decodes each message with the registry and dead-letters messages of another subject or that do not match their schema."`
	Topics        []Topic       `config:"topics" doc:"Topics a sink consumes ([[topics]]); sources name their destination topics in their own section."`
	DeadLetter    DeadLetter    `config:"dead_letter" doc:"What happens to records whose retries are exhausted (sinks); per-topic keys override."`
	Breaker       Breaker       `config:"breaker" doc:"Circuit breaker guarding the external system (sinks), one per topic: a topic whose writes keep failing pauses only its own consumption."`
	Source        Source        `config:"source" doc:"Offset storage and commits (sources)."`
	Observability Observability `config:"observability" doc:"HTTP endpoints, logging and tracing."`
}

// Auth configures how the connector authenticates to the broker.
type Auth struct {
	Token  string `config:"token" secret:"true" doc:"Bearer token sent with every call; write \"${DANUBE_TOKEN}\" to read it from the environment."`
	CAFile string `config:"ca_file" doc:"PEM file of the certificate authorities trusted for https:// broker URLs (default: the system pool)."`
}

// Retry is the Rust SDK's [retry] section plus the backoff shape.
type Retry struct {
	MaxRetries     int     `config:"max_retries" default:"3" min:"0" max:"100" doc:"Retries after the first attempt; 0 disables retries."`
	RetryBackoffMS int     `config:"retry_backoff_ms" default:"1000" min:"1" doc:"First backoff delay in milliseconds."`
	MaxBackoffMS   int     `config:"max_backoff_ms" default:"30000" min:"1" doc:"Cap of every backoff delay in milliseconds."`
	Backoff        string  `config:"backoff" default:"exponential" enum:"exponential,linear,fixed" doc:"Shape of the delays between retries."`
	Jitter         float64 `config:"jitter" default:"0.2" min:"0" max:"1" doc:"Random spread of each delay, a fraction of it (0 disables)."`
}

// Validate checks that the backoff bounds are ordered.
func (r *Retry) Validate() error {
	if r.MaxBackoffMS < r.RetryBackoffMS {
		return Errorf("max_backoff_ms", "%d is below retry_backoff_ms %d", r.MaxBackoffMS, r.RetryBackoffMS)
	}
	return nil
}

// Processing is the Rust SDK's [processing] section plus runtime bounds.
type Processing struct {
	BatchSize      int           `config:"batch_size" default:"1000" min:"1" max:"1000000" doc:"Most records per batch handed to a sink (and per poll of a source)."`
	BatchTimeoutMS int           `config:"batch_timeout_ms" default:"1000" min:"1" doc:"Longest wait in milliseconds for a batch to fill; it is written sooner when the stream has nothing more to give (the broker's window of unacked messages is reached, or no record came for 2 ms)."`
	BatchMaxBytes  int           `config:"batch_max_bytes" default:"1048576" min:"1" doc:"Most payload bytes per batch."`
	PollIntervalMS int           `config:"poll_interval_ms" default:"100" min:"1" doc:"Pause in milliseconds after a source poll that returned nothing."`
	MetricsPort    int           `config:"metrics_port" min:"0" max:"65535" doc:"The Rust SDK's key for the port of the HTTP endpoints: they listen on \":<port>\". Set this or observability.http_addr, not both; 0: not set."`
	LogLevel       string        `config:"log_level" default:"info" enum:"trace,debug,info,warn,error" doc:"Log level (trace is debug)."`
	MaxInFlight    int           `config:"max_in_flight" default:"1000" min:"1" max:"1048576" doc:"Most records received and unresolved per topic partition (sinks) or published and unconfirmed (sources)."`
	Parallelism    int           `config:"parallelism" default:"1" min:"1" max:"1024" doc:"Sink workers per topic partition; records with the same key stay in order."`
	DrainTimeout   time.Duration `config:"drain_timeout" default:"30s" min:"0s" doc:"How long in-flight work may take to finish at shutdown or reload."`

	HealthCheckIntervalMS       int `config:"health_check_interval_ms" default:"30000" min:"0" doc:"How often, in milliseconds, the connector's health check (the /readyz check) runs in the background; 0 disables the periodic check (/readyz still checks on request)."`
	HealthCheckFailureThreshold int `config:"health_check_failure_threshold" default:"3" min:"1" doc:"Consecutive failed periodic health checks after which the connector is logged as unhealthy (once; a later passing check logs its recovery)."`
}

// Schema is one [[schemas]] entry: the registry subject of a topic. A
// source publishing to the topic encodes (or validates) its records with
// the schema and tags every message with it; a sink consuming the topic
// decodes each message with the registry and dead-letters messages of
// another subject or that do not match their schema.
type Schema struct {
	Topic           string          `config:"topic" required:"true" doc:"Topic, /namespace/name: one of the connector's topics (a sink's [[topics]], a source's destination topics); a partitioned topic is named without its -part-N suffix."`
	Subject         string          `config:"subject" required:"true" doc:"Registry subject."`
	SchemaType      string          `config:"schema_type" required:"true" enum:"json_schema,avro,string,number,bytes" alias:"json=json_schema" doc:"Schema type."`
	SchemaFile      string          `config:"schema_file" doc:"File holding the schema definition (JSON Schema or Avro), read at start; a relative path resolves against the working directory. Needed to register the schema; without it a source uses the registered definition."`
	AutoRegister    bool            `config:"auto_register" default:"true" doc:"Register schema_file under subject at start when it is not registered yet, or as a new version when it differs from the latest (sources). Default true, as in the Rust SDK; without schema_file the registered definition is used (a json_schema or avro subject must then exist)."`
	VersionStrategy VersionStrategy `config:"version_strategy" default:"latest" doc:"Schema version producers use: \"latest\", {pinned = N} or {minimum = N} (also \"pinned:N\", \"minimum:N\")."`
	AvroEncoding    string          `config:"avro_encoding" default:"ocf" enum:"ocf,binary,json" doc:"Wire form of the avro payloads a source writes: ocf (an object container file per message, the only form a validating broker accepts), binary (the bare datum) or json (JSON text, as Rust connectors write). Sinks detect the form of each payload."`
	NumberFormat    string          `config:"number_format" default:"int64" enum:"int64,float64" doc:"How the 8 bytes of a number payload are written and read: big-endian int64 or float64; writer and reader must agree."`
}

// Validate checks topic syntax, that a registered schema has a file and
// that the file exists.
func (s *Schema) Validate() error {
	var errs []error
	if s.Topic != "" && !ValidTopic(s.Topic) {
		errs = append(errs, Errorf("topic", "%q: want /namespace/name", s.Topic))
	}
	if s.SchemaFile != "" {
		if fi, err := os.Stat(s.SchemaFile); err != nil {
			errs = append(errs, Errorf("schema_file", "%s", fileProblem(s.SchemaFile, err)))
		} else if fi.IsDir() {
			errs = append(errs, Errorf("schema_file", "%q is a directory, want a file", s.SchemaFile))
		}
	}
	return joinErrs(errs)
}

// fileProblem describes why a file cannot be read, naming it and, for a
// relative path, the directory it was looked up in.
func fileProblem(path string, err error) string {
	where := ""
	if !filepath.IsAbs(path) {
		if wd, werr := os.Getwd(); werr == nil {
			where = " (relative to the working directory " + wd + ")"
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%q does not exist%s", path, where)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("%q cannot be read: permission denied%s", path, where)
	}
	return fmt.Sprintf("%q cannot be read%s: %v", path, where, err)
}

// Topic is one [[topics]] entry of a sink.
type Topic struct {
	Topic            string        `config:"topic" required:"true" doc:"Topic to consume, /namespace/name; partitioned topics are consumed over all partitions."`
	Subscription     string        `config:"subscription" doc:"Subscription name (default: connector_name)."`
	SubscriptionType string        `config:"subscription_type" default:"shared" enum:"shared,exclusive,failover,key_shared" doc:"Subscription type."`
	DLQTopic         string        `config:"dlq_topic" doc:"Dead-letter topic (default: the topic with \"-dlq\" appended)."`
	OnExhausted      string        `config:"on_exhausted" enum:"nack,dead_letter" doc:"Overrides dead_letter.on_exhausted for this topic."`
	NackDelay        time.Duration `config:"nack_delay" min:"0s" doc:"Overrides dead_letter.nack_delay for this topic."`
	MaxRedeliveries  int           `config:"max_redeliveries" min:"-1" doc:"Overrides dead_letter.max_redeliveries for this topic (0: use it)."`
	SchemaSubject    string        `config:"schema_subject" doc:"Registry subject the topic's records are expected to carry."`
}

// Validate checks the topic names.
func (t *Topic) Validate() error {
	var errs []error
	if t.Topic != "" && !ValidTopic(t.Topic) {
		errs = append(errs, Errorf("topic", "%q: want /namespace/name", t.Topic))
	}
	if t.DLQTopic != "" && !ValidTopic(t.DLQTopic) {
		errs = append(errs, Errorf("dlq_topic", "%q: want /namespace/name", t.DLQTopic))
	} else if t.DLQTopic != "" && t.DLQTopic == t.Topic {
		errs = append(errs, Errorf("dlq_topic", "%q: must differ from the topic", t.DLQTopic))
	}
	return joinErrs(errs)
}

// DeadLetter is the default dead-letter policy of a sink's topics.
type DeadLetter struct {
	OnExhausted     string        `config:"on_exhausted" default:"nack" enum:"nack,dead_letter" doc:"When retries are exhausted: nack (the broker redelivers after nack_delay; dead-lettered after max_redeliveries) or dead_letter at once."`
	NackDelay       time.Duration `config:"nack_delay" default:"1s" min:"0s" doc:"Redelivery delay requested on nack."`
	MaxRedeliveries int           `config:"max_redeliveries" default:"3" min:"-1" doc:"Redeliveries after which an exhausted record is dead-lettered instead of nacked; -1 never dead-letters on exhaustion."`
}

// Breaker configures the circuit breaker.
type Breaker struct {
	FailureThreshold int           `config:"failure_threshold" default:"5" min:"-1" doc:"Consecutive failed writes that open the breaker (consumption pauses); -1 disables it."`
	Cooldown         time.Duration `config:"cooldown" default:"30s" min:"0s" doc:"How long the breaker stays open before a probe."`
}

// Source configures the offsets of a source connector.
type Source struct {
	OffsetsDir     string        `config:"offsets_dir" default:"offsets" doc:"Directory of the offset files (<connector_name>.offsets.json)."`
	CommitInterval time.Duration `config:"commit_interval" default:"1s" min:"0s" doc:"Least time between two offset commits; the last commit at shutdown is always made."`
	Ordering       string        `config:"ordering" default:"key" enum:"key,partition,none" doc:"Records kept in order on the broker while publishes are pipelined: key (records with the same routing key; records without a key are pipelined), partition (every record of a source partition, one publish at a time) or none (fastest)."`
}

// Observability configures the HTTP endpoints, logs and traces.
type Observability struct {
	HTTPAddr        string `config:"http_addr" doc:"Listen address of /metrics, /healthz and /readyz, e.g. \":9090\" or \"127.0.0.1:0\"; \"off\" disables them. Empty: \":\" + processing.metrics_port when that is set, else \":9090\". Set this or processing.metrics_port, not both."`
	LogFormat       string `config:"log_format" default:"text" enum:"text,json" doc:"Log format."`
	LogLevel        string `config:"log_level" enum:"trace,debug,info,warn,error" doc:"Log level; empty: processing.log_level."`
	TracingExporter string `config:"tracing_exporter" default:"off" enum:"off,stdout,otlp" doc:"OpenTelemetry span exporter: off, stdout (one JSON span per line on stdout) or otlp (to a collector, over otlp_protocol). The environment variable OTEL_TRACES_EXPORTER (otlp, console, none) overrides it; the OTLP exporter also reads the standard OTEL_EXPORTER_OTLP_* variables (headers, timeout, TLS)."`
	OTLPEndpoint    string `config:"otlp_endpoint" doc:"OTLP endpoint URL, e.g. \"http://collector:4317\" (grpc) or \"http://collector:4318\" (http/protobuf); an http URL means no TLS. Empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT, else localhost."`
	OTLPProtocol    string `config:"otlp_protocol" enum:"grpc,http/protobuf" alias:"http=http/protobuf" doc:"OTLP transport. Empty: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf (the OpenTelemetry default)."`
	ServiceName     string `config:"service_name" doc:"service.name of exported spans (default: connector_name; OTEL_SERVICE_NAME overrides it)."`
}

// Validate checks the broker URL and that topics and subjects are unique.
func (c *Core) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.DanubeServiceURL, "http://") && !strings.HasPrefix(c.DanubeServiceURL, "https://") {
		errs = append(errs, Errorf("danube_service_url", "%q: want http://host:port or https://host:port", c.DanubeServiceURL))
	}
	if c.Observability.HTTPAddr != "" && c.Processing.MetricsPort != 0 {
		errs = append(errs, Errorf("observability.http_addr", "%q and processing.metrics_port = %d both set the address of the HTTP endpoints; keep one", c.Observability.HTTPAddr, c.Processing.MetricsPort))
	}
	if strings.ContainsAny(c.ConnectorName, "/ \t\n") {
		errs = append(errs, Errorf("connector_name", "%q: must not contain '/' or spaces", c.ConnectorName))
	}
	seen := map[string]int{}
	for i, t := range c.Topics {
		sub := t.Subscription
		if sub == "" {
			sub = c.ConnectorName
		}
		k := t.Topic + "\x00" + sub
		if j, dup := seen[k]; dup {
			errs = append(errs, Errorf(fmt.Sprintf("topics[%d].topic", i), "%q with subscription %q is already listed as topics[%d]", t.Topic, sub, j))
		}
		seen[k] = i
	}
	schemas := map[string]int{}
	for i, s := range c.Schemas {
		logical, _ := danube.SplitPartition(s.Topic)
		if j, dup := schemas[logical]; dup && s.Topic != "" {
			errs = append(errs, Errorf(fmt.Sprintf("schemas[%d].topic", i), "%q is already listed as schemas[%d]", s.Topic, j))
		}
		schemas[logical] = i
	}
	if len(c.Topics) > 0 {
		// A sink: its topics are the [[topics]] entries. A source's topics
		// are declared by its connector; the caller checks them with
		// SchemaProblems.
		names := make([]string, len(c.Topics))
		for i, t := range c.Topics {
			names[i] = t.Topic
		}
		for _, p := range c.SchemaProblems(names) {
			errs = append(errs, p)
		}
	}
	return joinErrs(errs)
}

// SchemaProblems returns a problem naming schemas[i].topic for every
// [[schemas]] entry whose topic is none of topics, the topics the
// connector consumes or publishes to. Topics match by name, or by logical
// name: "/ns/t-part-1" and "/ns/t" are the same topic.
func (c *Core) SchemaProblems(topics []string) []*FieldError {
	var probs []*FieldError
	for i, s := range c.Schemas {
		if s.Topic == "" || matchTopic(s.Topic, topics) >= 0 {
			continue
		}
		list := "none"
		if len(topics) > 0 {
			list = strings.Join(topics, ", ")
		}
		probs = append(probs, &FieldError{Path: fmt.Sprintf("schemas[%d].topic", i),
			Msg: fmt.Sprintf("%q is not a topic of this connector (its topics: %s)", s.Topic, list)})
	}
	return probs
}

// SchemaFor returns the [[schemas]] entry of topic (matched as in
// SchemaProblems, an exact name first) and its index, or nil and -1.
func (c *Core) SchemaFor(topic string) (*Schema, int) {
	for i := range c.Schemas {
		if c.Schemas[i].Topic == topic {
			return &c.Schemas[i], i
		}
	}
	for i := range c.Schemas {
		if matchTopic(c.Schemas[i].Topic, []string{topic}) >= 0 {
			return &c.Schemas[i], i
		}
	}
	return nil, -1
}

// matchTopic returns the index of the first of topics that is topic, by
// name or by logical name (without a -part-N suffix), or -1.
func matchTopic(topic string, topics []string) int {
	logical, _ := danube.SplitPartition(topic)
	for i, t := range topics {
		if t == topic {
			return i
		}
		if l, _ := danube.SplitPartition(t); l == logical {
			return i
		}
	}
	return -1
}

// LogValue redacts secrets when a Core is logged.
func (c Core) LogValue() slog.Value { return LogValue(&c) }

// ValidTopic reports whether t has the form /namespace/name that the
// client and the broker accept: two non-empty segments of letters, digits,
// '_' and '-'.
func ValidTopic(t string) bool { return topicname.Valid(t) }

// VersionStrategy is the schema version a producer uses, a
// [danube.VersionRef]. It is written "latest", {pinned = 3} or
// {minimum = 2} (the Rust SDK's forms), or in a text form of
// [danube.ParseVersionRef] such as "pinned:3".
type VersionStrategy struct {
	danube.VersionRef
}

// ConfigType names the type in the reference docs.
func (VersionStrategy) ConfigType() string { return "version strategy" }

// UnmarshalConfig accepts a text form of [danube.ParseVersionRef] or a
// table with one key pinned or minimum (any case).
func (v *VersionStrategy) UnmarshalConfig(raw any) error {
	const want = `want "latest", {pinned = N} or {minimum = N}`
	switch x := raw.(type) {
	case string:
		ref, err := danube.ParseVersionRef(x)
		if err != nil {
			return fmt.Errorf("%s, got %q", want, x)
		}
		v.VersionRef = ref
		return nil
	case map[string]any:
		if len(x) != 1 {
			return fmt.Errorf("%s, got a table with %d keys", want, len(x))
		}
		for k, val := range x {
			kind, ref := strings.ToLower(k), danube.Pinned
			switch kind {
			case "pinned":
			case "minimum":
				ref = danube.Minimum
			default:
				return fmt.Errorf("%s, got key %q", want, k)
			}
			n, ok := asInt(val)
			if !ok || n <= 0 || n > math.MaxUint32 {
				return fmt.Errorf("%s: version must be a positive integer, got %s", kind, describe(val))
			}
			v.VersionRef = ref(uint32(n))
		}
		return nil
	}
	return fmt.Errorf("%s, got %s", want, describe(raw))
}

func joinErrs(errs []error) error { return errors.Join(errs...) }
