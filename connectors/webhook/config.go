package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
)

// Config is the [webhook] section.
type Config struct {
	Listen          string        `config:"listen" default:":8080" doc:"Listen address of the HTTP server, e.g. \":8080\" or \"127.0.0.1:0\"."`
	TLSCertFile     string        `config:"tls_cert_file" doc:"PEM certificate (chain) file; with tls_key_file the server speaks HTTPS only."`
	TLSKeyFile      string        `config:"tls_key_file" doc:"PEM private key file of tls_cert_file."`
	MaxBodyBytes    int64         `config:"max_body_bytes" default:"1048576" min:"1" doc:"Largest accepted request body; a larger one is answered 413."`
	AckTimeout      time.Duration `config:"ack_timeout" default:"10s" min:"1ms" doc:"How long a request waits for the broker to confirm all its records; then it is answered 503 (the client retries)."`
	ReadTimeout     time.Duration `config:"read_timeout" default:"30s" min:"1ms" doc:"Longest time to read a request, headers and body."`
	RetryAfter      time.Duration `config:"retry_after" default:"5s" min:"1s" doc:"Retry-After of a 503 answered while the broker is away or under backpressure."`
	TrustedProxies  []string      `config:"trusted_proxies" doc:"Addresses or CIDR ranges of reverse proxies whose forwarded_header names the client; from any other peer the socket address is the client."`
	ForwardedHeader string        `config:"forwarded_header" default:"X-Forwarded-For" doc:"Header a trusted proxy puts the client address in (the rightmost untrusted address counts)."`
	MaxClients      int           `config:"max_clients" default:"10000" min:"1" doc:"Most clients whose rate limiters are kept; the least recently seen are forgotten first."`
	Routes          []Route       `config:"routes" required:"true" doc:"The endpoints: each path publishes to a topic."`
}

// Route is one [[webhook.routes]] entry.
type Route struct {
	Path              string        `config:"path" required:"true" doc:"URL path of the endpoint, e.g. \"/hooks/github\"."`
	Method            string        `config:"method" default:"POST" enum:"POST,PUT" doc:"HTTP method the endpoint accepts."`
	Topic             string        `config:"topic" required:"true" doc:"Destination topic, /namespace/name."`
	Partitions        int           `config:"partitions" min:"0" max:"1024" doc:"Partitions to create the topic with (0: not partitioned)."`
	Reliable          bool          `config:"reliable" default:"true" doc:"Reliable dispatch (persisted, confirmed once stored); false is at-most-once."`
	Format            string        `config:"format" default:"auto" enum:"auto,json,ndjson,raw" doc:"Body format: json (one record), ndjson (one record per line), raw (the body as is, any content type) or auto (json or ndjson by Content-Type)."`
	KeyHeader         string        `config:"key_header" doc:"Header whose value is the routing key."`
	KeyField          string        `config:"key_field" doc:"Top-level JSON field whose value is the routing key (json and ndjson bodies)."`
	IdempotencyHeader string        `config:"idempotency_header" default:"Idempotency-Key" doc:"Header whose value becomes the record id (x-record-id), so a retried request is recognisable; a batch's records get \"#index\" appended."`
	IdempotencyField  string        `config:"idempotency_field" doc:"Top-level JSON field whose value becomes the record id instead of the header."`
	Headers           []string      `config:"headers" doc:"Request headers copied to the attribute webhook-header-<lower-case name>."`
	Auth              string        `config:"auth" default:"none" enum:"none,api_key,jwt,hmac" doc:"Authentication: none, api_key, jwt (Authorization: Bearer) or hmac (signature of the raw body)."`
	APIKeys           []string      `config:"api_keys" secret:"true" doc:"Accepted API keys (auth = api_key)."`
	APIKeyHeader      string        `config:"api_key_header" default:"X-API-Key" doc:"Header carrying the API key."`
	APIKeyQuery       string        `config:"api_key_query" doc:"Query parameter that may carry the API key instead (empty: header only)."`
	JWTAlgorithm      string        `config:"jwt_algorithm" default:"HS256" enum:"HS256,RS256,ES256" doc:"The one signing algorithm accepted (auth = jwt)."`
	JWTSecret         string        `config:"jwt_secret" secret:"true" doc:"Shared secret of HS256."`
	JWTPublicKeyFile  string        `config:"jwt_public_key_file" doc:"PEM public key of RS256 or ES256."`
	JWTIssuer         string        `config:"jwt_issuer" doc:"Required iss claim (empty: not checked)."`
	JWTAudience       string        `config:"jwt_audience" doc:"Required aud claim (empty: not checked)."`
	HMACSecret        string        `config:"hmac_secret" secret:"true" doc:"Shared secret of the body signature (auth = hmac)."`
	HMACScheme        string        `config:"hmac_scheme" default:"plain" enum:"plain,stripe" doc:"plain: the header is hmac_prefix + hex HMAC-SHA256 of the body (GitHub: X-Hub-Signature-256, sha256=); stripe: t=<unix time>,v1=<hex HMAC of \"t.body\">, checked against hmac_tolerance."`
	HMACHeader        string        `config:"hmac_header" default:"X-Signature-256" doc:"Header carrying the signature."`
	HMACPrefix        string        `config:"hmac_prefix" default:"sha256=" doc:"Prefix of a plain signature."`
	HMACTolerance     time.Duration `config:"hmac_tolerance" default:"5m" min:"1s" doc:"Largest difference between a stripe signature's timestamp and now, either way (replay protection)."`
	RateLimit         float64       `config:"rate_limit" min:"0" doc:"Requests per second the route accepts in all (0: unlimited); more are answered 429."`
	RateBurst         int           `config:"rate_burst" default:"100" min:"1" doc:"Burst of rate_limit."`
	ClientRateLimit   float64       `config:"client_rate_limit" min:"0" doc:"Requests per second one client may send to the route (0: unlimited)."`
	ClientRateBurst   int           `config:"client_rate_burst" default:"20" min:"1" doc:"Burst of client_rate_limit."`
}

// Validate checks what the tags cannot.
func (c *Config) Validate() error {
	var errs []error
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, config.Errorf("tls_cert_file", "tls_cert_file and tls_key_file go together"))
	}
	for i, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("trusted_proxies[%d]", i), "%q: want an IP address or CIDR range", p))
		}
	}
	paths := map[string]bool{}
	topics := map[string]Route{}
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d].", i)
		if paths[r.Path] {
			errs = append(errs, config.Errorf(key+"path", "%q is used by another route", r.Path))
		}
		paths[r.Path] = true
		if prev, ok := topics[r.Topic]; ok && (prev.Partitions != r.Partitions || prev.Reliable != r.Reliable) {
			errs = append(errs, config.Errorf(key+"topic", "%s is used by another route with other partitions or reliability", r.Topic))
		}
		topics[r.Topic] = r
	}
	return errors.Join(errs...)
}

// Validate checks one route.
func (r *Route) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, config.Errorf(key, format, args...)) }
	if !strings.HasPrefix(r.Path, "/") || strings.ContainsAny(r.Path, " {}") {
		bad("path", "%q: want an absolute URL path such as /hooks/orders", r.Path)
	}
	if r.Path == healthPath || r.Path == readyPath {
		bad("path", "%s is the server's own", r.Path)
	}
	if r.Topic != "" && !config.ValidTopic(r.Topic) {
		bad("topic", "%q: want /namespace/name", r.Topic)
	}
	if r.KeyHeader != "" && r.KeyField != "" {
		bad("key_field", "set key_header or key_field, not both")
	}
	if r.Format == "raw" && (r.KeyField != "" || r.IdempotencyField != "") {
		bad("format", "key_field and idempotency_field need a json or ndjson body")
	}
	switch r.Auth {
	case "api_key":
		if len(r.APIKeys) == 0 {
			bad("api_keys", "required with auth = api_key")
		}
		for i, k := range r.APIKeys {
			if k == "" {
				bad(fmt.Sprintf("api_keys[%d]", i), "empty key")
			}
		}
	case "jwt":
		if r.JWTAlgorithm == "HS256" {
			if r.JWTSecret == "" {
				bad("jwt_secret", "required with jwt_algorithm = HS256")
			}
			if r.JWTPublicKeyFile != "" {
				bad("jwt_public_key_file", "HS256 uses jwt_secret; a public key is for RS256 or ES256")
			}
		} else {
			if r.JWTPublicKeyFile == "" {
				bad("jwt_public_key_file", "required with jwt_algorithm = %s", r.JWTAlgorithm)
			} else if _, err := os.Stat(r.JWTPublicKeyFile); err != nil {
				bad("jwt_public_key_file", "%v", err)
			}
			if r.JWTSecret != "" {
				bad("jwt_secret", "%s verifies with jwt_public_key_file; a secret is for HS256", r.JWTAlgorithm)
			}
		}
	case "hmac":
		if r.HMACSecret == "" {
			bad("hmac_secret", "required with auth = hmac")
		}
		if r.HMACHeader == "" {
			bad("hmac_header", "required with auth = hmac")
		}
	}
	return errors.Join(errs...)
}

// Topics returns the destination topics of the source runtime, one per
// distinct route topic.
func (c *Config) Topics() []connect.SourceTopic {
	var out []connect.SourceTopic
	seen := map[string]bool{}
	for _, r := range c.Routes {
		if seen[r.Topic] {
			continue
		}
		seen[r.Topic] = true
		out = append(out, connect.SourceTopic{Topic: r.Topic, Partitions: r.Partitions, NonReliable: !r.Reliable})
	}
	return out
}

// parsePrefix parses an address or a CIDR range.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
