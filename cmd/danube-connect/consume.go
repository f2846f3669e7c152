package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/file"
	"github.com/danube-connect/connect/danube"
)

// messageLine is the JSON form of a received message: the file sink's
// line format, so one tool reads both.
func messageLine(m *danube.Message) file.Line {
	logical, part := danube.SplitPartition(m.Topic)
	l := file.Line{Topic: logical, Partition: max(part, 0), Offset: m.Offset, Key: m.Key,
		PublishTime: m.PublishTime.UTC(), Attributes: m.Attributes}
	switch {
	case len(m.Payload) > 0 && json.Valid(m.Payload):
		l.Encoding, l.Payload = "json", m.Payload
	default:
		l.Encoding = "string"
		l.Payload, _ = json.Marshal(string(m.Payload))
	}
	return l
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
	_, err := fmt.Fprintf(w, "%s@%d%s%s: %s\n", m.Topic, m.Offset, key, a, m.Payload)
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
	cmd := &cobra.Command{
		Use:   "consume -t TOPIC -m SUBSCRIPTION",
		Short: "Receive and acknowledge messages from a topic",
		Long: `Consume subscribes to a topic, prints each message and acknowledges it, until
--count messages were received or SIGINT/SIGTERM. A new subscription starts at
the latest message: messages published before it existed are not delivered.
A topic that does not exist yet is waited for until a producer creates it.
A broker that cannot be reached (e.g. restarting) is waited for up to
--reconnect-timeout; the subscription then resumes where it was.`,
		Example: `  danube-connect consume -t /default/orders -m audit
  danube-connect consume -s http://broker:6650 -t /default/orders -m audit --sub-type exclusive --count 10 --output json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if topic == "" || sub == "" {
				return usagef("--topic and --subscription are required")
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
			cons, err := subscribeWhenCreated(ctx, c.stderr, cl, topic, sub, copts)
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
	fl.StringVar(&output, "output", "text", "output format: text or json (one object per line)")
	return cmd
}

// dlqAttributes are the attributes the runtime and the broker add to a
// dead-letter copy; redrive removes them from the republished message.
var dlqAttributeNames = []string{
	connect.AttrOriginalTopic, connect.AttrOriginalSubscription, connect.AttrOriginalOffset,
	connect.AttrFailureReason, connect.AttrDeliveryAttempt, connect.AttrOriginalPartition,
	connect.AttrConnector, connect.AttrErrorClass, connect.AttrFailedAt,
}

func newDLQCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and redrive dead-letter topics",
		Long: `Dead-letter copies carry the original payload, key and attributes plus
x-original-topic, x-original-subscription, x-original-topic-offset,
x-failure-reason, x-error-class, x-delivery-attempt, x-connector and
x-failed-at. Both subcommands read through their own subscription, which, like
every new subscription, starts at the latest message: create it before the
records you want to see are dead-lettered (run the command once), or keep
using the same --subscription.`,
	}
	cmd.AddCommand(newDLQInspectCmd(c), newDLQRedriveCmd(c))
	return cmd
}

type dlqFlags struct {
	brokerFlags
	topic, sub string
	count      int
	idle       time.Duration
}

func (f *dlqFlags) register(cmd *cobra.Command, defaultSub string) {
	f.brokerFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.topic, "topic", "t", "", "dead-letter topic, e.g. /default/orders-dlq (required)")
	fl.StringVarP(&f.sub, "subscription", "m", defaultSub, "subscription to read through")
	fl.IntVar(&f.count, "count", 0, "stop after this many records (0: no limit)")
	fl.DurationVar(&f.idle, "idle", 2*time.Second, "stop when no record arrived for this long (0: wait until interrupted)")
}

// each receives DLQ records until count, idle or ctx, calling fn for each;
// fn acks.
func (f *dlqFlags) each(ctx context.Context, c *cli, cmd *cobra.Command, fn func(ctx context.Context, cl *danube.Client, cons *danube.Consumer, m *danube.Message) error) (int, error) {
	if f.topic == "" {
		return 0, usagef("--topic is required")
	}
	cl, err := f.connect(ctx, c, cmd)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	cons, err := cl.NewConsumer(ctx, f.topic, f.sub, danube.WithConsumerName(f.sub), danube.WithSubscriptionType(danube.Exclusive))
	if err != nil {
		return 0, fmt.Errorf("subscribe %s/%s: %w", f.topic, f.sub, err)
	}
	defer cons.Close()
	if c.started != nil {
		c.started("")
	}
	n := 0
	for f.count == 0 || n < f.count {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if f.idle > 0 {
			rctx, cancel = context.WithTimeout(ctx, f.idle)
		}
		m, err := cons.Receive(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && !cons.Reachable() {
				continue // not idle: the broker is away; Receive fails after --reconnect-timeout
			}
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				break
			}
			return n, fmt.Errorf("receive from %s: %w", f.topic, err)
		}
		if err := fn(ctx, cl, cons, m); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func newDLQInspectCmd(c *cli) *cobra.Command {
	var f dlqFlags
	var output string
	cmd := &cobra.Command{
		Use:   "inspect -t DLQ_TOPIC",
		Short: "Print dead-lettered records with their failure attributes",
		Example: `  danube-connect dlq inspect -t /default/orders-dlq
  danube-connect dlq inspect -t /default/orders-dlq --output json --count 10`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usagef("--output %q: want text or json", output)
			}
			n, err := f.each(cmd.Context(), c, cmd, func(ctx context.Context, _ *danube.Client, cons *danube.Consumer, m *danube.Message) error {
				if output == "json" {
					if err := printMessage(c.stdout, "json", m); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(c.stdout, "%s@%d from %s@%s (subscription %s, attempt %s, class %s, connector %s, at %s)\n  reason: %s\n  key: %q\n  payload: %s\n",
						m.Topic, m.Offset, m.Attributes[connect.AttrOriginalTopic], m.Attributes[connect.AttrOriginalOffset],
						m.Attributes[connect.AttrOriginalSubscription], m.Attributes[connect.AttrDeliveryAttempt],
						m.Attributes[connect.AttrErrorClass], m.Attributes[connect.AttrConnector], m.Attributes[connect.AttrFailedAt],
						m.Attributes[connect.AttrFailureReason], m.Key, m.Payload)
				}
				return cons.Ack(ctx, m)
			})
			fmt.Fprintf(c.stderr, "inspected %d record(s)\n", n)
			return err
		},
	}
	f.register(cmd, "danube-connect-dlq-inspect")
	cmd.Flags().StringVar(&output, "output", "text", "output format: text or json")
	return cmd
}

func newDLQRedriveCmd(c *cli) *cobra.Command {
	var f dlqFlags
	var reliable bool
	cmd := &cobra.Command{
		Use:   "redrive -t DLQ_TOPIC",
		Short: "Republish dead-lettered records to their original topics",
		Long: `Redrive republishes each dead-lettered record to its x-original-topic (the
logical topic, so the key picks the partition again) with its payload, key
and original attributes, and acknowledges the dead-letter copy only after the
broker confirmed the republished message. Records without x-original-topic are
left unacknowledged and reported.`,
		Example: `  danube-connect dlq redrive -t /default/orders-dlq --reliable`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			producers := map[string]*danube.Producer{}
			defer func() {
				for _, p := range producers {
					p.Close()
				}
			}()
			skipped := 0
			n, err := f.each(cmd.Context(), c, cmd, func(ctx context.Context, cl *danube.Client, cons *danube.Consumer, m *danube.Message) error {
				orig := m.Attributes[connect.AttrOriginalTopic]
				if orig == "" {
					skipped++
					fmt.Fprintf(c.stderr, "skipped %s@%d: no %s attribute\n", m.Topic, m.Offset, connect.AttrOriginalTopic)
					return nil
				}
				logical, _ := danube.SplitPartition(orig)
				p := producers[logical]
				if p == nil {
					var popts []danube.ProducerOption
					if reliable {
						popts = append(popts, danube.WithReliable())
					}
					var err error
					if p, err = cl.NewProducer(ctx, logical, popts...); err != nil {
						return fmt.Errorf("create producer on %s: %w", logical, err)
					}
					producers[logical] = p
				}
				attrs := maps.Clone(m.Attributes)
				for _, k := range dlqAttributeNames {
					delete(attrs, k)
				}
				if err := p.Send(ctx, &danube.OutgoingMessage{Payload: m.Payload, Attributes: attrs, Key: m.Key}); err != nil {
					return fmt.Errorf("republish %s@%d to %s: %w", m.Topic, m.Offset, logical, err)
				}
				if err := cons.Ack(ctx, m); err != nil {
					return fmt.Errorf("ack %s@%d after republishing (it may be redriven twice): %w", m.Topic, m.Offset, err)
				}
				fmt.Fprintf(c.stderr, "redriven %s@%d → %s\n", m.Topic, m.Offset, logical)
				return nil
			})
			fmt.Fprintf(c.stderr, "redrove %d record(s), skipped %d\n", n-skipped, skipped)
			return err
		},
	}
	f.register(cmd, "danube-connect-dlq-redrive")
	cmd.Flags().BoolVar(&reliable, "reliable", true, "republish with reliable dispatch")
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
