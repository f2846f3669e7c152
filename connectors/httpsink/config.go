package httpsink

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/danube-connect/connect/config"
)

// Config is the [http] section.
type Config struct {
	URL                string            `config:"url" required:"true" doc:"Endpoint the records are sent to, http:// or https://."`
	Method             string            `config:"method" default:"POST" enum:"POST,PUT,PATCH" doc:"HTTP method of each request."`
	Mode               string            `config:"mode" default:"record" enum:"record,batch" doc:"record: one request per record, the payload as body; batch: one request per runtime batch ([processing] batch_size), see batch_format."`
	BatchFormat        string            `config:"batch_format" default:"json_array" enum:"json_array,ndjson" doc:"Body of a batch: a JSON array of the payloads, or one payload per line (NDJSON). Payloads must be JSON; others are dead-lettered."`
	ContentType        string            `config:"content_type" default:"application/json" doc:"Content-Type of a record request (a batch is application/json or application/x-ndjson)."`
	Headers            map[string]string `config:"headers" doc:"Headers added to every request."`
	BasicUser          string            `config:"basic_user" doc:"User of HTTP basic authentication."`
	BasicPassword      string            `config:"basic_password" secret:"true" doc:"Password of HTTP basic authentication."`
	BearerToken        string            `config:"bearer_token" secret:"true" doc:"Token sent as Authorization: Bearer."`
	Timeout            time.Duration     `config:"timeout" default:"10s" min:"1ms" doc:"Time limit of one request, connection and response included."`
	CAFile             string            `config:"ca_file" doc:"PEM file of certificate authorities trusted for https, in addition to the system's."`
	IdempotencyHeader  string            `config:"idempotency_header" default:"Idempotency-Key" doc:"Header carrying the record id (x-record-id, else partition-topic#offset) so the endpoint can drop a redelivery; a batch sends a digest of its record ids. Empty: not sent."`
	MaxRetryAfter      time.Duration     `config:"max_retry_after" default:"60s" min:"0s" doc:"Longest Retry-After honoured: after a 429 or 503 the sink sends nothing until then."`
	SplitRejectedBatch bool              `config:"split_rejected_batch" default:"true" doc:"When the endpoint rejects a batch with a 4xx, send its records one by one so that only the rejected ones are dead-lettered."`
	MaxConnections     int               `config:"max_connections" default:"64" min:"1" doc:"Most idle connections kept to the endpoint."`
}

// Validate checks what the tags cannot.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if c.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, config.Errorf("url", "%q: want an http:// or https:// URL", c.URL))
	}
	if c.BearerToken != "" && (c.BasicUser != "" || c.BasicPassword != "") {
		errs = append(errs, config.Errorf("bearer_token", "set bearer_token or basic_user/basic_password, not both"))
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			errs = append(errs, config.Errorf("ca_file", "%v", err))
		}
	}
	for k := range c.Headers {
		if strings.EqualFold(k, "Content-Type") || strings.EqualFold(k, "Authorization") {
			errs = append(errs, config.Errorf("headers."+k, "set by content_type or the authentication keys"))
		}
	}
	return errors.Join(errs...)
}
