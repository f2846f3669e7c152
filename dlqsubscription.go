package connect

import (
	"context"
	"log/slog"

	"github.com/danube-connect/connect/danube"
)

// The durable subscriptions the runtimes create on every dead-letter topic
// when they create its producer, before the first record is dead-lettered
// to it. The dead-letter tools (danube-connect dlq inspect and redrive)
// read through them by default, so they see every record ever
// dead-lettered, not only those published after they first subscribed (a
// new subscription starts at the latest message). Each tool has its own,
// so inspecting records does not take them away from redrive.
//
// On a real broker a subscription whose cursor was never persisted (no
// message acked through it yet) restarts at the latest message after a
// topic unload or broker restart; records dead-lettered in between are then
// only visible to a subscription that existed before.
const (
	DLQInspectSubscription = "danube-connect-dlq-inspect"
	DLQRedriveSubscription = "danube-connect-dlq-redrive"
)

// AttrRedriveCount is the number of times a record was republished from a
// dead-letter topic to its original topic (decimal), set by danube-connect
// dlq redrive and kept when the record is dead-lettered again.
const AttrRedriveCount = "x-redrive-count"

// createDLQSubscription makes sure the tools' subscriptions exist on
// topic: it subscribes an exclusive consumer to each and detaches it at
// once. Failures are logged (a tool may hold a subscription right now,
// which is fine).
func createDLQSubscription(ctx context.Context, cl *danube.Client, topic string, log *slog.Logger) {
	for _, sub := range [...]string{DLQInspectSubscription, DLQRedriveSubscription} {
		c, err := cl.NewConsumer(ctx, topic, sub, danube.WithConsumerName(sub), danube.WithSubscriptionType(danube.Exclusive))
		if err != nil {
			log.Debug("dead-letter subscription not created", "dlq_topic", topic, "subscription", sub, "err", err)
			continue
		}
		_ = c.Close()
	}
}
