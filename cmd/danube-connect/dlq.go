package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/danube"
)

// attrEndMarker marks the end marker a dead-letter tool publishes to the
// dead-letter topic when it starts: reading it back means everything that
// was in the topic before the tool started has been read. Its value is
// the marker's id; markers of other runs are acknowledged and skipped.
const attrEndMarker = "x-dlq-end-marker"

// dlqAttributeNames are the attributes the runtimes add to a dead-letter
// copy; redrive removes them from the republished message (the redrive
// count is kept and incremented instead).
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
x-original-partition, x-failure-reason, x-error-class, x-delivery-attempt,
x-connector and x-failed-at (a source's copies: the topic, reason, class,
connector, time and x-record-id). A record redriven before also carries
x-redrive-count.

When a connector creates a dead-letter topic it also creates a durable
subscription for each tool (` + connect.DLQInspectSubscription + ` and
` + connect.DLQRedriveSubscription + `), so the tools see every record ever
dead-lettered. Each tool acknowledges what it handled through its own
subscription: inspect shows each record once, and inspecting does not take
records away from redrive. A --subscription created by the tool itself
starts, like every new subscription, at the latest message.

Both tools stop at the end of the topic as it was when they started: they
publish an end marker (attribute ` + attrEndMarker + `) after subscribing
and stop when they read it back, so records dead-lettered while they run
(for example redriven records that fail again) are left for the next run.`,
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
	fl.IntVar(&f.count, "count", 0, "stop after this many records (0: at the end of the topic as it was at start)")
	fl.DurationVar(&f.idle, "idle", 0, "also stop when no record arrived for this long (0: wait for the end marker)")
}

// dlqRun is one run of a dead-letter tool.
type dlqRun struct {
	cl   *danube.Client
	cons *danube.Consumer
}

// each subscribes to the dead-letter topic, publishes an end marker and
// calls fn for every record before it, until --count, --idle or ctx; fn
// acks. A topic that does not exist has nothing dead-lettered: each
// returns found=false.
func (f *dlqFlags) each(ctx context.Context, c *cli, cmd *cobra.Command, fn func(ctx context.Context, run *dlqRun, m *danube.Message) error) (n int, found bool, err error) {
	if f.topic == "" {
		return 0, false, usagef("--topic is required")
	}
	if !config.ValidTopic(f.topic) {
		return 0, false, usagef("--topic %q: want /namespace/name", f.topic)
	}
	cl, err := f.connect(ctx, c, cmd)
	if err != nil {
		return 0, false, err
	}
	defer cl.Close()
	cons, err := cl.NewConsumer(ctx, f.topic, f.sub, danube.WithConsumerName(f.sub), danube.WithSubscriptionType(danube.Exclusive))
	if errors.Is(err, danube.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("subscribe %s/%s: %w", f.topic, f.sub, err)
	}
	defer cons.Close()
	marker, err := publishEndMarker(ctx, cl, f.topic)
	if err != nil {
		return 0, true, err
	}
	if c.started != nil {
		c.started("")
	}
	run := &dlqRun{cl: cl, cons: cons}
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
				return n, true, nil
			}
			return n, true, fmt.Errorf("receive from %s: %w", f.topic, err)
		}
		if id, ok := m.Attributes[attrEndMarker]; ok {
			if err := cons.Ack(ctx, m); err != nil {
				return n, true, fmt.Errorf("ack end marker %s@%d: %w", m.Topic, m.Offset, err)
			}
			if id == marker {
				return n, true, nil
			}
			continue // another run's marker
		}
		if err := fn(ctx, run, m); err != nil {
			return n, true, err
		}
		n++
	}
	return n, true, nil
}

// publishEndMarker publishes an empty message carrying a new end-marker
// id to the dead-letter topic and returns the id.
func publishEndMarker(ctx context.Context, cl *danube.Client, topic string) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	p, err := newProducerMatching(ctx, cl, topic, "danube-connect-dlq-marker-"+id, true)
	if err != nil {
		return "", fmt.Errorf("create end-marker producer on %s: %w", topic, err)
	}
	defer p.Close()
	if err := p.Send(ctx, &danube.OutgoingMessage{Attributes: map[string]string{attrEndMarker: id}}); err != nil {
		return "", fmt.Errorf("publish end marker to %s: %w", topic, err)
	}
	return id, nil
}

// newProducerMatching creates a producer on topic with the preferred
// dispatch (reliable or not), or with the other one when the existing
// topic has the other (the broker refuses a mismatch).
func newProducerMatching(ctx context.Context, cl *danube.Client, topic, name string, reliable bool, opts ...danube.ProducerOption) (*danube.Producer, error) {
	with := func(rel bool) []danube.ProducerOption {
		o := append([]danube.ProducerOption{danube.WithProducerName(name)}, opts...)
		if rel {
			o = append(o, danube.WithReliable())
		}
		return o
	}
	p, err := cl.NewProducer(ctx, topic, with(reliable)...)
	if err != nil && isDispatchMismatch(err) {
		p, err = cl.NewProducer(ctx, topic, with(!reliable)...)
	}
	return p, err
}

// isDispatchMismatch reports the broker's refusal of a producer whose
// dispatch strategy (reliable or not) differs from the topic's.
func isDispatchMismatch(err error) bool {
	return err != nil && strings.Contains(err.Error(), "dispatch strategy does not match")
}

func newDLQInspectCmd(c *cli) *cobra.Command {
	var f dlqFlags
	var output string
	cmd := &cobra.Command{
		Use:   "inspect -t DLQ_TOPIC",
		Short: "Print dead-lettered records with their failure attributes",
		Long: `Inspect prints every record dead-lettered to the topic that it has not
shown before (it acknowledges what it printed through its subscription), up
to the end of the topic as it was when it started. --output json prints one
object per line in the file sink's format, losslessly: the payload as JSON
when it is compact JSON, as a string when it is UTF-8, else base64, named by
payload_encoding.`,
		Example: `  danube-connect dlq inspect -t /default/orders-dlq
  danube-connect dlq inspect -t /default/orders-dlq --output json --count 10`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usagef("--output %q: want text or json", output)
			}
			n, found, err := f.each(cmd.Context(), c, cmd, func(ctx context.Context, run *dlqRun, m *danube.Message) error {
				var err error
				if output == "json" {
					err = printMessage(c.stdout, "json", m)
				} else {
					err = printDLQRecord(c.stdout, m)
				}
				if err != nil {
					return err
				}
				return run.cons.Ack(ctx, m)
			})
			if !found && err == nil {
				fmt.Fprintf(c.stderr, "dead-letter topic %s does not exist: nothing was dead-lettered to it\n", f.topic)
				return nil
			}
			fmt.Fprintf(c.stderr, "inspected %d record(s)\n", n)
			return err
		},
	}
	f.register(cmd, connect.DLQInspectSubscription)
	cmd.Flags().StringVar(&output, "output", "text", "output format: text or json (lossless, one object per line)")
	return cmd
}

// printDLQRecord prints every field of a dead-letter copy: where it is,
// where it came from, why it failed, its key, every other attribute and
// its payload (quoted when it is not UTF-8 text).
func printDLQRecord(w interface{ Write([]byte) (int, error) }, m *danube.Message) error {
	a := m.Attributes
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%d published %s by %s\n", m.Topic, m.Offset, m.PublishTime.UTC().Format(time.RFC3339Nano), m.ProducerName)
	field := func(name, key string) {
		if v, ok := a[key]; ok {
			fmt.Fprintf(&b, "  %-13s %s\n", name+":", v)
		}
	}
	field("from topic", connect.AttrOriginalTopic)
	field("partition", connect.AttrOriginalPartition)
	field("offset", connect.AttrOriginalOffset)
	field("subscription", connect.AttrOriginalSubscription)
	field("connector", connect.AttrConnector)
	field("class", connect.AttrErrorClass)
	field("attempt", connect.AttrDeliveryAttempt)
	field("redriven", connect.AttrRedriveCount)
	field("failed at", connect.AttrFailedAt)
	field("reason", connect.AttrFailureReason)
	field("record id", connect.AttrRecordID)
	if m.SchemaID != 0 {
		fmt.Fprintf(&b, "  %-13s id %d version %d\n", "schema:", m.SchemaID, m.SchemaVersion)
	}
	fmt.Fprintf(&b, "  %-13s %q\n", "key:", m.Key)
	known := map[string]bool{connect.AttrRedriveCount: true, connect.AttrRecordID: true}
	for _, k := range dlqAttributeNames {
		known[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if !known[k] {
			fmt.Fprintf(&b, "  attribute     %s=%s\n", k, a[k])
		}
	}
	enc, payload := payloadText(m.Payload)
	fmt.Fprintf(&b, "  payload (%s, %d bytes): %s\n", enc, len(m.Payload), payload)
	_, err := w.Write([]byte(b.String()))
	return err
}

func newDLQRedriveCmd(c *cli) *cobra.Command {
	var f dlqFlags
	var reliable bool
	var maxRedrives int
	var parkTopic string
	cmd := &cobra.Command{
		Use:   "redrive -t DLQ_TOPIC",
		Short: "Republish dead-lettered records to their original topics",
		Long: `Redrive republishes each dead-lettered record to its x-original-topic (the
logical topic, so the key picks the partition again) with its payload, key
and original attributes, x-redrive-count incremented, and acknowledges the
dead-letter copy only after the broker confirmed the republished message.

It stops at the end of the dead-letter topic as it was when it started (or
after --count records), so records that fail again while it runs are left
for the next run instead of looping. A record already redriven
--max-redrives times, or without x-original-topic, is not redriven: it is
parked in --park-topic (default: the dead-letter topic with "-parked"
appended), where dlq inspect shows it.`,
		Example: `  danube-connect dlq redrive -t /default/orders-dlq
  danube-connect dlq redrive -t /default/orders-dlq --count 10 --max-redrives 5`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxRedrives < 1 {
				return usagef("--max-redrives %d: want at least 1", maxRedrives)
			}
			if parkTopic == "" && f.topic != "" {
				parkTopic = f.topic + "-parked"
			}
			if parkTopic != "" && (!config.ValidTopic(parkTopic) || parkTopic == f.topic) {
				return usagef("--park-topic %q: want /namespace/name other than the dead-letter topic", parkTopic)
			}
			producers := map[string]*danube.Producer{}
			defer func() {
				for _, p := range producers {
					p.Close()
				}
			}()
			producer := func(ctx context.Context, cl *danube.Client, topic string) (*danube.Producer, error) {
				if p := producers[topic]; p != nil {
					return p, nil
				}
				p, err := newProducerMatching(ctx, cl, topic, "danube-connect-dlq-redrive", reliable)
				if err != nil {
					return nil, fmt.Errorf("create producer on %s: %w", topic, err)
				}
				producers[topic] = p
				return p, nil
			}
			redriven, parked := 0, 0
			n, found, err := f.each(cmd.Context(), c, cmd, func(ctx context.Context, run *dlqRun, m *danube.Message) error {
				count, _ := strconv.Atoi(m.Attributes[connect.AttrRedriveCount])
				orig, _ := danube.SplitPartition(m.Attributes[connect.AttrOriginalTopic])
				if orig == "" || count >= maxRedrives {
					why := fmt.Sprintf("redriven %d times already (--max-redrives %d)", count, maxRedrives)
					if orig == "" {
						why = "no " + connect.AttrOriginalTopic + " attribute"
					}
					if parked == 0 {
						ensureSubscription(ctx, run.cl, parkTopic, reliable)
					}
					p, err := producer(ctx, run.cl, parkTopic)
					if err != nil {
						return err
					}
					if err := p.Send(ctx, &danube.OutgoingMessage{Payload: m.Payload, Attributes: m.Attributes, Key: m.Key}); err != nil {
						return fmt.Errorf("park %s@%d in %s: %w", m.Topic, m.Offset, parkTopic, err)
					}
					if err := run.cons.Ack(ctx, m); err != nil {
						return fmt.Errorf("ack %s@%d after parking it (it may be parked twice): %w", m.Topic, m.Offset, err)
					}
					parked++
					fmt.Fprintf(c.stderr, "parked %s@%d in %s: %s\n", m.Topic, m.Offset, parkTopic, why)
					return nil
				}
				p, err := producer(ctx, run.cl, orig)
				if err != nil {
					return err
				}
				attrs := maps.Clone(m.Attributes)
				for _, k := range dlqAttributeNames {
					delete(attrs, k)
				}
				attrs[connect.AttrRedriveCount] = strconv.Itoa(count + 1)
				if err := p.Send(ctx, &danube.OutgoingMessage{Payload: m.Payload, Attributes: attrs, Key: m.Key}); err != nil {
					return fmt.Errorf("republish %s@%d to %s: %w", m.Topic, m.Offset, orig, err)
				}
				if err := run.cons.Ack(ctx, m); err != nil {
					return fmt.Errorf("ack %s@%d after republishing (it may be redriven twice): %w", m.Topic, m.Offset, err)
				}
				redriven++
				fmt.Fprintf(c.stderr, "redriven %s@%d → %s (redrive %d)\n", m.Topic, m.Offset, orig, count+1)
				return nil
			})
			if !found && err == nil {
				fmt.Fprintf(c.stderr, "dead-letter topic %s does not exist: nothing was dead-lettered to it\n", f.topic)
				return nil
			}
			fmt.Fprintf(c.stderr, "redrove %d record(s), parked %d (%d read)\n", redriven, parked, n)
			return err
		},
	}
	f.register(cmd, connect.DLQRedriveSubscription)
	cmd.Flags().BoolVar(&reliable, "reliable", true, "republish with reliable dispatch (when the topic does not exist yet)")
	cmd.Flags().IntVar(&maxRedrives, "max-redrives", 3, "park instead of redriving a record already redriven this many times")
	cmd.Flags().StringVar(&parkTopic, "park-topic", "", `topic of the records not redriven (default: DLQ_TOPIC + "-parked")`)
	return cmd
}

// ensureSubscription creates topic (when missing) and the inspect tool's
// subscription on it, so parked records can be inspected. Failures are
// ignored: publishing reports them.
func ensureSubscription(ctx context.Context, cl *danube.Client, topic string, reliable bool) {
	p, err := newProducerMatching(ctx, cl, topic, "danube-connect-dlq-park", reliable)
	if err != nil {
		return
	}
	p.Close()
	if cons, err := cl.NewConsumer(ctx, topic, connect.DLQInspectSubscription, danube.WithConsumerName(connect.DLQInspectSubscription),
		danube.WithSubscriptionType(danube.Exclusive)); err == nil {
		cons.Close()
	}
}
