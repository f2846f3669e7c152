package mqtt

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
)

// Config is the [mqtt] section. Its keys are those of the Rust source-mqtt
// connector (broker_host, broker_port, client_id, use_tls, keep_alive_secs,
// connection_timeout_secs, max_packet_size, clean_session,
// include_metadata, tcp_nodelay, [[mqtt.routes]] and the older
// [[mqtt.topic_mappings]]) with the same meaning, plus urls, the protocol
// version, the in-flight window and TLS files.
type Config struct {
	URLs       []string `config:"urls" doc:"Broker URLs, tried in order: tcp:// (or mqtt://), ssl:// (or tls://, mqtts://), ws://, wss://. Empty: built from broker_host, broker_port and use_tls."`
	BrokerHost string   `config:"broker_host" doc:"Broker host name when urls is empty."`
	BrokerPort int      `config:"broker_port" min:"0" max:"65535" doc:"Broker port when urls is empty; 0: 1883, or 8883 with use_tls."`
	UseTLS     bool     `config:"use_tls" doc:"Connect with TLS when urls is empty (ssl://broker_host:broker_port)."`
	ClientID   string   `config:"client_id" doc:"MQTT client id; the broker keeps the persistent session under it, so keep it stable. Empty: the connector name."`
	Username   string   `config:"username" doc:"User name (${VAR} reads it from the environment)."`
	Password   string   `config:"password" secret:"true" doc:"Password (${VAR} reads it from the environment)."`

	ProtocolVersion       string `config:"protocol_version" default:"3.1.1" enum:"3.1.1,5" doc:"MQTT protocol version: 3.1.1 or 5 (needed for shared subscriptions with $share/, user properties, content type and correlation data attributes)."`
	CleanSession          bool   `config:"clean_session" doc:"Start without a stored session. false (the default) keeps a persistent session: messages published while the connector is down are delivered when it reconnects."`
	SessionExpirySecs     int    `config:"session_expiry_secs" default:"86400" min:"0" max:"4294967295" doc:"MQTT 5: how long the broker keeps the session after a disconnect (0: it ends with the connection)."`
	KeepAliveSecs         int    `config:"keep_alive_secs" default:"60" min:"1" max:"65535" doc:"Keep-alive interval in seconds: a silent connection is pinged, a dead one detected after 1.5 times this."`
	ConnectionTimeoutSecs int    `config:"connection_timeout_secs" default:"30" min:"1" doc:"How long one connection attempt (TCP, TLS and CONNACK) may take."`
	MaxPacketSize         int    `config:"max_packet_size" default:"10485760" min:"0" max:"268435455" doc:"Largest message accepted in bytes: MQTT 5 announces it to the broker, which then does not send larger ones; with 3.1.1 a larger message is logged as an error, acknowledged and dropped. 0: no limit."`
	ReceiveMaximum        int    `config:"receive_maximum" default:"100" min:"1" max:"65535" doc:"Messages received and not yet acknowledged to the broker (MQTT 5: announced to the broker; 3.1.1: reading pauses at this many). Bounds the duplicates after a crash."`
	IncludeMetadata       bool   `config:"include_metadata" default:"true" doc:"Add the mqtt.* attributes (topic, qos, retain, dup, message id, MQTT 5 properties) to every record."`
	TCPNoDelay            bool   `config:"tcp_nodelay" default:"true" doc:"Disable Nagle's algorithm on the TCP connection."`
	ReconnectMaxSecs      int    `config:"reconnect_max_secs" default:"10" min:"1" doc:"Longest wait between reconnection attempts (the wait doubles from 100ms)."`

	TLSCAFile     string `config:"tls_ca_file" doc:"PEM file of the CA certificates that verify the broker (default: the system pool)."`
	TLSCertFile   string `config:"tls_cert_file" doc:"PEM client certificate for mutual TLS (with tls_key_file)."`
	TLSKeyFile    string `config:"tls_key_file" doc:"PEM private key of tls_cert_file."`
	TLSServerName string `config:"tls_server_name" doc:"Name the broker certificate must carry (default: the host of the URL)."`

	Routes        []Route   `config:"routes" doc:"Subscriptions ([[mqtt.routes]]): an MQTT filter and the Danube topic its messages go to."`
	TopicMappings []Mapping `config:"topic_mappings" doc:"Older Rust form of routes ([[mqtt.topic_mappings]])."`
}

// Route maps an MQTT topic filter to a Danube topic.
type Route struct {
	From             string  `config:"from" required:"true" doc:"MQTT topic filter; + matches one level, # any number (a/# matches a too); MQTT 5: $share/GROUP/filter shares the messages among the connectors of GROUP."`
	To               string  `config:"to" required:"true" doc:"Danube topic, /namespace/name."`
	QoS              QoS     `config:"qos" default:"1" doc:"Subscription QoS: 0 (or AtMostOnce), 1 (AtLeastOnce), 2 (ExactlyOnce). 0 is at-most-once; 1 and 2 are acknowledged only after Danube confirmed."`
	Partitions       int     `config:"partitions" min:"0" max:"1024" doc:"Partitions to create the Danube topic with (0: not partitioned)."`
	ReliableDispatch OptBool `config:"reliable_dispatch" doc:"Reliable (persisted) Danube topic; default: true for QoS 1 and 2, false for QoS 0."`
	Key              string  `config:"key" default:"topic" enum:"topic,none" doc:"Routing key of each record: the MQTT topic (per-device order is kept) or none."`
}

// Mapping is the older Rust form of a [Route].
type Mapping struct {
	MQTTTopic        string  `config:"mqtt_topic" required:"true" doc:"MQTT topic filter (as routes.from)."`
	DanubeTopic      string  `config:"danube_topic" required:"true" doc:"Danube topic (as routes.to)."`
	QoS              QoS     `config:"qos" default:"1" doc:"Subscription QoS (as routes.qos)."`
	Partitions       int     `config:"partitions" min:"0" max:"1024" doc:"Partitions (as routes.partitions)."`
	ReliableDispatch OptBool `config:"reliable_dispatch" doc:"Reliable dispatch (as routes.reliable_dispatch)."`
}

// QoS is an MQTT quality of service level, written 0, 1, 2 or as the Rust
// names AtMostOnce, AtLeastOnce, ExactlyOnce.
type QoS byte

// ConfigType names the type in the reference docs.
func (QoS) ConfigType() string { return "qos" }

// String returns the level as a digit.
func (q QoS) String() string { return strconv.Itoa(int(q)) }

// UnmarshalConfig accepts 0, 1, 2 (integer or text) and the Rust names.
func (q *QoS) UnmarshalConfig(raw any) error {
	switch x := raw.(type) {
	case int64:
		if x >= 0 && x <= 2 {
			*q = QoS(x)
			return nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "0", "atmostonce", "at_most_once":
			*q = 0
			return nil
		case "1", "atleastonce", "at_least_once":
			*q = 1
			return nil
		case "2", "exactlyonce", "exactly_once":
			*q = 2
			return nil
		}
	}
	return fmt.Errorf("want 0, 1, 2, AtMostOnce, AtLeastOnce or ExactlyOnce, got %v", raw)
}

// OptBool is a boolean that may be unset.
type OptBool struct {
	// Set tells whether the configuration gave a value.
	Set bool
	// Value is the value given (false when unset).
	Value bool
}

// ConfigType names the type in the reference docs.
func (OptBool) ConfigType() string { return "boolean" }

// String returns "true", "false", or "" when unset.
func (b OptBool) String() string {
	if !b.Set {
		return ""
	}
	return strconv.FormatBool(b.Value)
}

// UnmarshalConfig accepts a boolean, its text, or "" for unset.
func (b *OptBool) UnmarshalConfig(raw any) error {
	switch x := raw.(type) {
	case bool:
		*b = OptBool{Set: true, Value: x}
		return nil
	case string:
		if strings.TrimSpace(x) == "" {
			*b = OptBool{}
			return nil
		}
		v, err := strconv.ParseBool(strings.TrimSpace(x))
		if err == nil {
			*b = OptBool{Set: true, Value: v}
			return nil
		}
	}
	return fmt.Errorf("want a boolean, got %v", raw)
}

// Validate checks the routes, the broker address and the TLS files.
func (c *Config) Validate() error {
	var errs []error
	routes := c.AllRoutes()
	if len(routes) == 0 {
		errs = append(errs, config.Errorf("routes", "required: at least one [[mqtt.routes]] with from and to"))
	}
	for i, r := range c.Routes {
		errs = append(errs, r.check(fmt.Sprintf("routes[%d]", i), "from", "to", c.ProtocolVersion)...)
	}
	for i, m := range c.TopicMappings {
		errs = append(errs, m.route().check(fmt.Sprintf("topic_mappings[%d]", i), "mqtt_topic", "danube_topic", c.ProtocolVersion)...)
	}
	if len(c.URLs) == 0 && c.BrokerHost == "" {
		errs = append(errs, config.Errorf("urls", "required: the broker's URL (or broker_host)"))
	}
	for i, u := range c.URLs {
		if _, err := parseBrokerURL(u); err != nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("urls[%d]", i), "%v", err))
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, config.Errorf("tls_key_file", "tls_cert_file and tls_key_file go together"))
	}
	return joinErrors(errs)
}

func (r Route) check(path, fromKey, toKey, version string) []error {
	var errs []error
	if r.From != "" {
		if err := validFilter(r.From, version == "5"); err != nil {
			errs = append(errs, config.Errorf(path+"."+fromKey, "%q: %v", r.From, err))
		}
	}
	if r.To != "" && !config.ValidTopic(r.To) {
		errs = append(errs, config.Errorf(path+"."+toKey, "%q: want /namespace/name", r.To))
	}
	return errs
}

func (m Mapping) route() Route {
	return Route{From: m.MQTTTopic, To: m.DanubeTopic, QoS: m.QoS, Partitions: m.Partitions, ReliableDispatch: m.ReliableDispatch, Key: "topic"}
}

// AllRoutes returns routes followed by topic_mappings as routes.
func (c *Config) AllRoutes() []Route {
	out := append([]Route(nil), c.Routes...)
	for _, m := range c.TopicMappings {
		out = append(out, m.route())
	}
	return out
}

// Reliable reports whether the route's Danube topic uses reliable dispatch.
func (r Route) Reliable() bool {
	if r.ReliableDispatch.Set {
		return r.ReliableDispatch.Value
	}
	return r.QoS > 0
}

// Topics returns the Danube topics of the routes, each once (the first
// route naming a topic sets its partitions and dispatch).
func (c *Config) Topics() []connect.SourceTopic {
	var out []connect.SourceTopic
	seen := map[string]bool{}
	for _, r := range c.AllRoutes() {
		if seen[r.To] {
			continue
		}
		seen[r.To] = true
		out = append(out, connect.SourceTopic{Topic: r.To, Partitions: r.Partitions, NonReliable: !r.Reliable()})
	}
	return out
}

// BrokerURLs returns the URLs to connect to: urls, or the one built from
// broker_host, broker_port and use_tls.
func (c *Config) BrokerURLs() ([]*url.URL, error) {
	raw := c.URLs
	if len(raw) == 0 {
		scheme, port := "tcp", c.BrokerPort
		if c.UseTLS {
			scheme = "ssl"
		}
		if port == 0 {
			port = 1883
			if c.UseTLS {
				port = 8883
			}
		}
		raw = []string{scheme + "://" + net.JoinHostPort(c.BrokerHost, strconv.Itoa(port))}
	}
	out := make([]*url.URL, 0, len(raw))
	for _, s := range raw {
		u, err := parseBrokerURL(s)
		if err != nil {
			return nil, connect.Configuration(fmt.Errorf("mqtt: broker URL %q: %w", s, err))
		}
		out = append(out, u)
	}
	return out, nil
}

// parseBrokerURL parses a broker URL and normalises its scheme to tcp,
// ssl, ws or wss.
func parseBrokerURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
		u.Scheme = "tcp"
	case "ssl", "tls", "mqtts", "tcps":
		u.Scheme = "ssl"
	case "ws", "wss":
		u.Scheme = strings.ToLower(u.Scheme)
	default:
		return nil, fmt.Errorf("scheme %q: want tcp://, ssl://, tls://, ws:// or wss://", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("no host")
	}
	if u.Port() == "" {
		port := map[string]string{"tcp": "1883", "ssl": "8883", "ws": "80", "wss": "443"}[u.Scheme]
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

func (c *Config) keepAlive() time.Duration { return time.Duration(c.KeepAliveSecs) * time.Second }

func (c *Config) connectTimeout() time.Duration {
	return time.Duration(c.ConnectionTimeoutSecs) * time.Second
}

func (c *Config) reconnectMax() time.Duration { return time.Duration(c.ReconnectMaxSecs) * time.Second }

func joinErrors(errs []error) error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return errors.Join(out...)
}
