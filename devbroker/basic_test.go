package devbroker_test

import (
	"fmt"
	"testing"

	"github.com/danube-connect/connect/devbroker"
	pb "github.com/danube-connect/connect/internal/wire/danubepb"
)

func TestReliableRoundTrip(t *testing.T) {
	for _, dir := range []string{"", "disk"} {
		t.Run(fmt.Sprintf("datadir=%q", dir), func(t *testing.T) {
			cfg := devbroker.Config{}
			if dir != "" {
				cfg.DataDir = t.TempDir()
			}
			b := start(t, cfg)
			c := dial(t, b.URL())
			p := c.producer(t, "/default/rt", "p", true)
			cons := c.subscribe(t, "/default/rt", "sub", "c", pb.ConsumerRequest_Exclusive)
			p.send(t, "a", "b", "c")
			got := cons.expect(t, "a", "b", "c")
			for i, m := range got {
				if m.MsgId.TopicOffset != uint64(i) {
					t.Errorf("offset %d = %d", i, m.MsgId.TopicOffset)
				}
				if m.ProducerName != "p" || m.Attributes["k"] != string(m.Payload) || m.SubscriptionName != "" {
					t.Errorf("message not delivered as published: %v", m)
				}
				cons.ack(t, m)
			}
			eventually(t, "acks", func() bool { return stats(t, b, "/default/rt", "sub").Cursor == 3 })
			if n := len(b.Messages("/default/rt")); n != 3 {
				t.Errorf("Messages = %d", n)
			}
		})
	}
}

func TestNonReliableRoundTrip(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/nr", "p", false)
	cons := c.subscribe(t, "/default/nr", "sub", "c", pb.ConsumerRequest_Shared)
	p.send(t, "a", "b")
	for _, m := range cons.expect(t, "a", "b") {
		if m.MsgId.TopicOffset != 0 {
			t.Errorf("non-reliable offset = %d", m.MsgId.TopicOffset)
		}
	}
}
