package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/observe"
)

// brokerFlags are the connection flags of the broker tools.
type brokerFlags struct {
	serviceURL       string
	token            string
	caFile           string
	reconnectTimeout time.Duration
	logLevel         string
}

func (f *brokerFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.serviceURL, "service-addr", "s", "http://127.0.0.1:6650", "broker URL (env "+config.EnvServiceURL+" when not given)")
	cmd.Flags().StringVar(&f.token, "token", "", "bearer token (env DANUBE_TOKEN when not given)")
	cmd.Flags().StringVar(&f.caFile, "ca-file", "", "PEM file of trusted CAs for https:// URLs")
	cmd.Flags().DurationVar(&f.reconnectTimeout, "reconnect-timeout", danube.DefaultReconnectTimeout,
		"how long to wait for an unreachable broker (e.g. restarting) before failing")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "level of the client's log on stderr (broker lost, back, giving up): debug, info, warn, error")
}

func (f *brokerFlags) connect(ctx context.Context, c *cli, cmd *cobra.Command) (*danube.Client, error) {
	url := f.serviceURL
	if !cmd.Flags().Changed("service-addr") {
		if v := c.getenv(config.EnvServiceURL); v != "" {
			url = v
		}
	}
	token := f.token
	if token == "" {
		token = c.getenv("DANUBE_TOKEN")
	}
	if f.reconnectTimeout <= 0 {
		return nil, usagef("--reconnect-timeout %s: want a positive duration", f.reconnectTimeout)
	}
	opts := []danube.ClientOption{
		danube.WithReconnectTimeout(f.reconnectTimeout),
		danube.WithLogger(observe.NewLogger(c.stderr, "text", levelOf(f.logLevel))),
	}
	if token != "" {
		opts = append(opts, danube.WithToken(token))
	}
	if f.caFile != "" {
		opts = append(opts, danube.WithCAFile(f.caFile))
	}
	if err := checkServiceURL(url); err != nil {
		return nil, err
	}
	cl, err := danube.NewClient(ctx, url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	return cl, nil
}

// checkServiceURL reports a broker URL that is not http(s)://host:port as
// a usage error.
func checkServiceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return usagef("broker URL %q: want http://host:port or https://host:port", s)
	}
	return nil
}

// checkTopic reports a missing or malformed --topic as a usage error.
func checkTopic(t string) error {
	if t == "" {
		return usagef("--topic is required")
	}
	if !config.ValidTopic(t) {
		return usagef("--topic %q: want /namespace/name", t)
	}
	return nil
}

// parseAttributes parses "k:v,k2:v2".
func parseAttributes(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--attributes %q: want key:value,key2:value2", s)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

func levelOf(s string) slog.Level { return config.ParseLevel(s) }

func newProduceCmd(c *cli) *cobra.Command {
	var bf brokerFlags
	var topic, message, file, name, attrs, key, subject, schemaType, schemaFile string
	var count, partitions int
	var interval int64
	var reliable bool
	cmd := &cobra.Command{
		Use:   "produce -t TOPIC (-m TEXT | -f FILE)",
		Short: "Publish messages to a topic",
		Long: `Produce publishes messages to a topic of any Danube broker, each confirmed by
the broker before the next is sent. "{i}" in the message is replaced by the
0-based sequence number. A broker that cannot be reached (e.g. restarting) is
waited for up to --reconnect-timeout: a message the broker did not confirm is
sent again, a confirmed one never is.`,
		Example: `  danube-connect produce -t /default/orders -m 'order {i}' -c 100
  danube-connect produce -s http://broker:6650 -t /default/orders -f order.json --reliable -a source:cli,env:dev
  danube-connect produce -t /default/events -m '{"id":{i}}' --schema-subject events --schema-type json_schema --schema-file events.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTopic(topic); err != nil {
				return err
			}
			if (message == "") == (file == "") {
				return usagef("give exactly one of --message and --file")
			}
			if count < 1 {
				return usagef("--count %d: want at least 1", count)
			}
			attributes, err := parseAttributes(attrs)
			if err != nil {
				return err
			}
			var payload []byte
			if file != "" {
				if payload, err = os.ReadFile(file); err != nil {
					return usagef("read --file: %v", err)
				}
			}
			ctx := cmd.Context()
			cl, err := bf.connect(ctx, c, cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			var popts []danube.ProducerOption
			if name != "" {
				popts = append(popts, danube.WithProducerName(name))
			}
			if reliable {
				popts = append(popts, danube.WithReliable())
			}
			if partitions > 0 {
				popts = append(popts, danube.WithPartitions(partitions))
			}
			if subject != "" {
				if schemaFile != "" {
					def, err := os.ReadFile(schemaFile)
					if err != nil {
						return usagef("read --schema-file: %v", err)
					}
					if schemaType == "" {
						return usagef("--schema-type is required with --schema-file")
					}
					res, err := cl.Schemas().Register(ctx, subject, danube.SchemaType(schemaType), def)
					if err != nil {
						return fmt.Errorf("register schema %q: %w", subject, err)
					}
					fmt.Fprintf(c.stderr, "schema %q version %d\n", subject, res.Version)
				}
				popts = append(popts, danube.WithSchema(danube.SchemaRef{Subject: subject}))
			} else if schemaFile != "" || schemaType != "" {
				return usagef("--schema-type and --schema-file need --schema-subject")
			}
			p, err := cl.NewProducer(ctx, topic, popts...)
			if isDispatchMismatch(err) && !cmd.Flags().Changed("reliable") {
				// The topic exists with the other dispatch: use it.
				reliable = !reliable
				mode := danube.NonReliable
				if reliable {
					mode = danube.Reliable
				}
				popts = append(popts, danube.WithDispatch(mode)) // the last dispatch option wins
				fmt.Fprintf(c.stderr, "topic %s exists with reliable=%v dispatch; publishing with it\n", topic, reliable)
				p, err = cl.NewProducer(ctx, topic, popts...)
			}
			if err != nil {
				return fmt.Errorf("create producer on %s: %w", topic, err)
			}
			defer p.Close()
			start := time.Now()
			for i := range count {
				body := payload
				if file == "" {
					body = []byte(strings.ReplaceAll(message, "{i}", strconv.Itoa(i)))
				}
				if err := p.Send(ctx, &danube.OutgoingMessage{Payload: body, Attributes: attributes, Key: key}); err != nil {
					if errors.Is(err, context.Canceled) {
						fmt.Fprintf(c.stderr, "interrupted after %d messages\n", i)
						return nil
					}
					return fmt.Errorf("send message %d to %s: %w", i, topic, err)
				}
				if interval > 0 && i < count-1 {
					select {
					case <-ctx.Done():
						fmt.Fprintf(c.stderr, "interrupted after %d messages\n", i+1)
						return nil
					case <-time.After(time.Duration(interval) * time.Millisecond):
					}
				}
			}
			fmt.Fprintf(c.stderr, "sent %d message(s) to %s in %s\n", count, topic, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	bf.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&topic, "topic", "t", "", "topic, /namespace/name (required)")
	fl.StringVarP(&message, "message", "m", "", `message text; "{i}" is replaced by the sequence number`)
	fl.StringVarP(&file, "file", "f", "", "send the contents of this file as the payload")
	fl.IntVarP(&count, "count", "c", 1, "number of messages")
	fl.Int64VarP(&interval, "interval", "i", 0, "pause between messages in milliseconds (0: as fast as possible)")
	fl.StringVarP(&name, "producer-name", "n", "", "producer name (default: generated)")
	fl.StringVarP(&attrs, "attributes", "a", "", "attributes, key:value,key2:value2")
	fl.IntVarP(&partitions, "partitions", "p", 0, "create the topic with this many partitions")
	fl.BoolVar(&reliable, "reliable", false, "reliable dispatch (persisted, at-least-once)")
	fl.StringVar(&key, "key", "", "routing key")
	fl.StringVar(&subject, "schema-subject", "", "schema registry subject of the messages")
	fl.StringVar(&schemaType, "schema-type", "", "schema type: json_schema, avro, string, number, bytes")
	fl.StringVar(&schemaFile, "schema-file", "", "register this schema definition under --schema-subject first")
	return cmd
}
