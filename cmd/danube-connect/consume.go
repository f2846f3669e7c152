package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect/connectors/file"
	"github.com/danube-connect/connect/danube"
)

// messageLine is the JSON form of a received message: the file sink's
// line format, so one tool reads both. It is lossless: the payload is
// written as JSON only when it is compact JSON (so the bytes are kept), as
// a string when it is other UTF-8 text, and as base64 otherwise; the
// payload_encoding field names the form.
func messageLine(m *danube.Message) file.Line {
	logical, part := danube.SplitPartition(m.Topic)
	l := file.Line{Topic: logical, Partition: max(part, 0), Offset: m.Offset, Key: m.Key,
		PublishTime: m.PublishTime.UTC(), Attributes: m.Attributes}
	if m.SchemaID != 0 {
		l.Schema = &file.LineSchema{ID: m.SchemaID, Version: m.SchemaVersion}
	}
	switch enc := payloadEncoding(m.Payload); enc {
	case "json":
		l.Encoding, l.Payload = enc, m.Payload
	case "string":
		l.Encoding, l.Payload = enc, mustJSON(string(m.Payload))
	default:
		l.Encoding, l.Payload = enc, mustJSON(base64.StdEncoding.EncodeToString(m.Payload))
	}
	return l
}

// payloadEncoding returns how a payload is shown without loss: "json"
// (compact JSON, kept byte for byte), "string" (UTF-8 text) or "base64".
func payloadEncoding(p []byte) string {
	switch {
	case len(p) > 0 && json.Valid(p):
		var c bytes.Buffer
		if json.Compact(&c, p) == nil && bytes.Equal(c.Bytes(), p) {
			return "json"
		}
		return "string"
	case utf8.Valid(p):
		return "string"
	}
	return "base64"
}

// payloadText returns the encoding of a payload and its text form for
// people: JSON and plain text as they are, text with control characters
// quoted, anything else in base64.
func payloadText(p []byte) (enc, text string) {
	switch enc = payloadEncoding(p); enc {
	case "base64":
		return enc, base64.StdEncoding.EncodeToString(p)
	case "string":
		if strings.ContainsFunc(string(p), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return enc, strconv.Quote(string(p))
		}
	}
	return enc, string(p)
}

func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

func printMessage(w io.Writer, output string, m *danube.Message) error {
	if output == "json" {
		b, err := json.Marshal(messageLine(m))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
		attrs = append(attrs, k+"="+m.Attributes[k])
	}
	key := ""
	if m.Key != "" {
		key = " key=" + m.Key
	}
	a := ""
	if len(attrs) > 0 {
		a = " {" + strings.Join(attrs, ", ") + "}"
	}
	enc, text := payloadText(m.Payload)
	if enc == "base64" {
		text = "base64:" + text
	}
	_, err := fmt.Fprintf(w, "%s@%d%s%s: %s\n", m.Topic, m.Offset, key, a, text)
	return err
}

func parseSubType(s string) (danube.SubscriptionType, error) {
	switch s {
	case "exclusive":
		return danube.Exclusive, nil
	case "shared":
		return danube.Shared, nil
	case "failover":
		return danube.Failover, nil
	case "key_shared":
		return danube.KeyShared, nil
	}
	return 0, usagef("--sub-type %q: want exclusive, shared, failover or key_shared", s)
}

func newConsumeCmd(c *cli) *cobra.Command {
	var bf brokerFlags
	var topic, sub, name, subType, output string
	var count int
	var create, reliable bool
	cmd := &cobra.Command{
		Use:   "consume -t TOPIC -m SUBSCRIPTION",
		Short: "Receive and acknowledge messages from a topic",
		Long: `Consume subscribes to a topic, prints each message and acknowledges it, until
--count messages were received or SIGINT/SIGTERM.

A new subscription starts at the latest message: messages published before it
existed are never delivered to it, on any Danube broker. So consume subscribes
before it waits: every message published after it started is delivered. A
topic that does not exist yet is created first (reliable, unless
--reliable=false; --create-topic=false waits for a producer to create it
instead, and may miss what that producer publishes before the subscription
exists). Once it exists, a reliable subscription keeps what arrives while its
consumer is away; a real broker keeps its position across restarts only once
a message was acknowledged through it.

A broker that cannot be reached (e.g. restarting) is waited for up to
--reconnect-timeout; the subscription then resumes where it was.
` + "`--output json`" + ` is lossless: payloads that are not compact JSON are written as
a string (UTF-8) or in base64, named by payload_encoding.`,
		Example: `  danube-connect consume -t /default/orders -m audit
  danube-connect consume -s http://broker:6650 -t /default/orders -m audit --sub-type exclusive --count 10 --output json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sub == "" {
				return usagef("--subscription is required")
			}
			if err := checkTopic(topic); err != nil {
				return err
			}
			st, err := parseSubType(subType)
			if err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return usagef("--output %q: want text or json", output)
			}
			ctx := cmd.Context()
			cl, err := bf.connect(ctx, c, cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			copts := []danube.ConsumerOption{danube.WithSubscriptionType(st)}
			if name != "" {
				copts = append(copts, danube.WithConsumerName(name))
			}
			cons, err := cl.NewConsumer(ctx, topic, sub, copts...)
			if errors.Is(err, danube.ErrNotFound) {
				if create {
					// Create the topic and subscribe before waiting, so that
					// nothing published after this command started is missed.
					var p *danube.Producer
					if p, err = newProducerMatching(ctx, cl, topic, "danube-connect-consume-"+sub, reliable); err != nil {
						return fmt.Errorf("create topic %s: %w", topic, err)
					}
					p.Close()
					fmt.Fprintf(c.stderr, "created topic %s (reliable=%v); waiting for messages\n", topic, reliable)
					cons, err = cl.NewConsumer(ctx, topic, sub, copts...)
				} else {
					cons, err = subscribeWhenCreated(ctx, c.stderr, cl, topic, sub, copts)
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("subscribe %s/%s: %w", topic, sub, err)
			}
			defer cons.Close()
			if c.started != nil {
				c.started("")
			}
			n := 0
			for count == 0 || n < count {
				m, err := cons.Receive(ctx)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					return fmt.Errorf("receive from %s: %w", topic, err)
				}
				if err := printMessage(c.stdout, output, m); err != nil {
					return err
				}
				if err := cons.Ack(ctx, m); err != nil && ctx.Err() == nil {
					return fmt.Errorf("ack %s@%d: %w", m.Topic, m.Offset, err)
				}
				n++
			}
			fmt.Fprintf(c.stderr, "received %d message(s)\n", n)
			return nil
		},
	}
	bf.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&topic, "topic", "t", "", "topic, /namespace/name (required)")
	fl.StringVarP(&sub, "subscription", "m", "", "subscription name (required)")
	fl.StringVarP(&name, "consumer", "n", "", "consumer name (default: generated)")
	fl.StringVar(&subType, "sub-type", "shared", "subscription type: exclusive, shared, failover or key_shared")
	fl.IntVar(&count, "count", 0, "exit after this many messages (0: until interrupted)")
	fl.StringVar(&output, "output", "text", "output format: text or json (one object per line, lossless)")
	fl.BoolVar(&create, "create-topic", true, "create a topic that does not exist yet, then subscribe (false: wait for a producer to create it)")
	fl.BoolVar(&reliable, "reliable", true, "dispatch of a topic created by --create-topic (reliable: persisted, kept for the subscription)")
	return cmd
}

// subscribeWhenCreated subscribes to topic, waiting (until ctx ends) for a
// topic that does not exist yet: brokers create topics with their first
// producer, and a consumer started first should simply wait for it.
func subscribeWhenCreated(ctx context.Context, stderr io.Writer, cl *danube.Client, topic, sub string, opts []danube.ConsumerOption) (*danube.Consumer, error) {
	for waited := false; ; waited = true {
		cons, err := cl.NewConsumer(ctx, topic, sub, opts...)
		if err == nil || !errors.Is(err, danube.ErrNotFound) {
			return cons, err
		}
		if !waited {
			fmt.Fprintf(stderr, "topic %s does not exist yet; waiting for a producer to create it (Ctrl-C to stop)\n", topic)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
