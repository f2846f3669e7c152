package devbroker_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/danube-connect/connect/devbroker"
	pb "github.com/danube-connect/connect/internal/wire/danubepb"
)

func TestReliableSubscriptionStartsAtLatest(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	p.send(t, "old1", "old2")
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Failover)
	p.send(t, "new")
	m := cons.expect(t, "new")[0]
	if m.MsgId.TopicOffset != 2 {
		t.Fatalf("offset = %d, want 2", m.MsgId.TopicOffset)
	}
}

func TestNonReliableOnlyActiveConsumersGetMessages(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", false)
	live := c.subscribe(t, "/default/t", "live", "c", pb.ConsumerRequest_Shared)
	gone := c.subscribe(t, "/default/t", "gone", "c", pb.ConsumerRequest_Shared)
	gone.cancel()
	eventually(t, "consumer inactive", func() bool { return stats(t, b, "/default/t", "gone").ActiveConsumers == 0 })
	p.send(t, "a")
	live.expect(t, "a")
	if s := stats(t, b, "/default/t", "gone"); s.Dropped != 1 || s.Delivered != 0 {
		t.Fatalf("inactive subscription stats %+v", s)
	}
	// Reconnecting does not bring the message back.
	again := c.subscribe(t, "/default/t", "gone", "c", pb.ConsumerRequest_Shared)
	p.send(t, "b")
	again.expect(t, "b")
	live.expect(t, "b")
}

func TestNonReliableDropsWhenBufferFull(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", false)
	// Subscribed but not receiving: messages wait in the consumer's buffer until it is full.
	resp, err := c.cons.Subscribe(t.Context(), &pb.ConsumerRequest{TopicName: "/default/t", ConsumerName: "c", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1100
	for i := range n {
		p.send(t, strconv.Itoa(i))
	}
	s := stats(t, b, "/default/t", "s")
	if s.Delivered+s.Dropped != n || s.Dropped == 0 {
		t.Fatalf("stats %+v: want %d messages, some dropped", s, n)
	}
	cons := &consumer{c: c, topic: "/default/t", sub: "s", name: "c", id: resp.ConsumerId}
	cons.open(t)
	for i := range int(s.Delivered) {
		cons.expect(t, strconv.Itoa(i))
	}
}

func TestAckWindowAndOutOfOrderAcks(t *testing.T) {
	b := start(t, devbroker.Config{MaxUnackedMessages: 3})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	p.send(t, "0", "1", "2", "3", "4")
	got := cons.expect(t, "0", "1", "2")
	if s := stats(t, b, "/default/t", "s"); s.InFlight != 3 || s.Backlog != 2 || s.Cursor != 0 {
		t.Fatalf("window stats %+v", s)
	}
	cons.ack(t, got[1])
	m3 := cons.expect(t, "3")[0]
	if s := stats(t, b, "/default/t", "s"); s.Cursor != 0 || s.Acked != 1 {
		t.Fatalf("cursor moved past an unacked message: %+v", s)
	}
	cons.ack(t, got[1]) // duplicate: ignored
	cons.ack(t, got[0])
	cons.expect(t, "4")
	if s := stats(t, b, "/default/t", "s"); s.Cursor != 2 || s.Acked != 2 {
		t.Fatalf("after acking 0 and 1: %+v", s)
	}
	cons.ack(t, m3)
	cons.ack(t, got[2])
	eventually(t, "cursor at 4", func() bool { return stats(t, b, "/default/t", "s").Cursor == 4 })
}

func TestNackRedeliversAndLateAckIsIgnored(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
	p.send(t, "x")
	first := cons.expect(t, "x")[0]
	cons.nack(t, first, 0, "try again")
	second := cons.expect(t, "x")[0]
	if second.MsgId.TopicOffset != first.MsgId.TopicOffset || second.RequestId != first.RequestId {
		t.Fatalf("redelivery differs: %v vs %v", second, first)
	}
	// Nack again, then ack the (now no longer awaited) message: the ack is ignored.
	cons.nack(t, second, 0, "")
	cons.ack(t, second)
	third := cons.expect(t, "x")[0]
	cons.ack(t, third)
	eventually(t, "acked", func() bool { return stats(t, b, "/default/t", "s").Cursor == 1 })
	if s := stats(t, b, "/default/t", "s"); s.Redelivered != 2 || s.Delivered != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAckTimeoutRedelivers(t *testing.T) {
	policy := fastPolicy
	policy.AckTimeout = 20 * time.Millisecond
	b := start(t, devbroker.Config{FailurePolicy: policy})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	p.send(t, "x")
	cons.expect(t, "x")
	m := cons.expect(t, "x")[0] // redelivered after the ack timeout
	cons.ack(t, m)
	eventually(t, "acked", func() bool { return stats(t, b, "/default/t", "s").Cursor == 1 })
}

func TestRedeliveryOnReconnect(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	p.send(t, "a", "b")
	got := cons.expect(t, "a", "b")
	cons.ack(t, got[0])
	cons.cancel()
	eventually(t, "consumer inactive", func() bool { return stats(t, b, "/default/t", "s").ActiveConsumers == 0 })
	p.send(t, "c")
	again := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	if again.id != cons.id {
		t.Fatalf("reconnect got a new id")
	}
	for _, m := range again.expect(t, "b", "c") {
		again.ack(t, m)
	}
	eventually(t, "acked", func() bool { return stats(t, b, "/default/t", "s").Cursor == 3 })
}

// exhaust nacks the message until the failure policy gives up on it (MaxRedeliveryCount 1:
// two deliveries).
func exhaust(t *testing.T, cons *consumer, payload string) {
	t.Helper()
	for range 2 {
		m := cons.expect(t, payload)[0]
		cons.nack(t, m, 0, "bad "+payload)
	}
}

func TestPoisonPolicies(t *testing.T) {
	policy := fastPolicy
	policy.MaxRedeliveryCount = 1

	t.Run("drop", func(t *testing.T) {
		p := policy
		p.Poison = devbroker.Drop
		b := start(t, devbroker.Config{FailurePolicy: p, MaxUnackedMessages: 1})
		c := dial(t, b.URL())
		prod := c.producer(t, "/default/t", "p", true)
		cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
		prod.send(t, "poison", "next")
		exhaust(t, cons, "poison")
		cons.ack(t, cons.expect(t, "next")[0])
		eventually(t, "cursor past both", func() bool { return stats(t, b, "/default/t", "s").Cursor == 2 })
		if s := stats(t, b, "/default/t", "s"); s.Dropped != 1 {
			t.Fatalf("stats %+v", s)
		}
	})

	t.Run("block", func(t *testing.T) {
		b := start(t, devbroker.Config{FailurePolicy: policy, MaxUnackedMessages: 1})
		c := dial(t, b.URL())
		prod := c.producer(t, "/default/t", "p", true)
		cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
		prod.send(t, "poison", "next")
		exhaust(t, cons, "poison")
		prod.send(t, "later")
		s := stats(t, b, "/default/t", "s")
		if s.Cursor != 0 || s.Pending != 1 || s.Backlog != 2 || s.InFlight != 0 {
			t.Fatalf("blocked subscription stats %+v", s)
		}
		if extra := cons.drain(); len(extra) != 0 {
			t.Fatalf("delivered past a blocked poison message: %v", extra)
		}
	})

	t.Run("dead letter", func(t *testing.T) {
		p := policy
		p.Poison = devbroker.DeadLetter
		p.DeadLetterTopic = "/default/t-dlq"
		b := start(t, devbroker.Config{FailurePolicy: p, MaxUnackedMessages: 1})
		c := dial(t, b.URL())
		prod := c.producer(t, "/default/t", "p", true)
		cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
		prod.send(t, "poison", "next")
		exhaust(t, cons, "poison")
		cons.ack(t, cons.expect(t, "next")[0])
		eventually(t, "dead-lettered", func() bool { return len(b.Messages("/default/t-dlq")) == 1 })
		eventually(t, "cursor past both", func() bool { return stats(t, b, "/default/t", "s").Cursor == 2 })
		m := b.Messages("/default/t-dlq")[0]
		want := map[string]string{
			"k":                       "poison",
			"x-original-topic":        "/default/t",
			"x-original-subscription": "s",
			"x-original-topic-offset": "0",
			"x-original-producer-id":  strconv.FormatUint(prod.id, 10),
			"x-original-broker-addr":  "x",
			"x-poison-policy":         "dead_letter",
			"x-delivery-attempt":      "2",
			"x-failure-reason":        "bad poison",
		}
		if fmt.Sprint(m.Attributes) != fmt.Sprint(want) || string(m.Payload) != "poison" || m.Offset != 0 || m.ProducerID == prod.id {
			t.Fatalf("dead-letter copy %+v\nwant attributes %v", m, want)
		}
		if s := stats(t, b, "/default/t", "s"); s.DeadLettered != 1 {
			t.Fatalf("stats %+v", s)
		}
	})

	t.Run("set failure policy", func(t *testing.T) {
		b := start(t, devbroker.Config{})
		c := dial(t, b.URL())
		prod := c.producer(t, "/default/t", "p", true)
		p := policy
		p.Poison = devbroker.Drop
		b.SetFailurePolicy("/default/t", "s", p)
		cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
		prod.send(t, "poison")
		exhaust(t, cons, "poison")
		eventually(t, "dropped", func() bool { return stats(t, b, "/default/t", "s").Dropped == 1 })
	})
}

func TestSharedRoundRobin(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		t.Run(fmt.Sprint("reliable=", reliable), func(t *testing.T) {
			b := start(t, devbroker.Config{})
			c := dial(t, b.URL())
			p := c.producer(t, "/default/t", "p", reliable)
			one := c.subscribe(t, "/default/t", "s", "one", pb.ConsumerRequest_Shared)
			two := c.subscribe(t, "/default/t", "s", "two", pb.ConsumerRequest_Shared)
			p.send(t, "a", "b", "c", "d")
			one.expect(t, "a", "c")
			two.expect(t, "b", "d")
		})
	}
}

func TestFailoverFailsOver(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		t.Run(fmt.Sprint("reliable=", reliable), func(t *testing.T) {
			b := start(t, devbroker.Config{})
			c := dial(t, b.URL())
			p := c.producer(t, "/default/t", "p", reliable)
			first := c.subscribe(t, "/default/t", "s", "first", pb.ConsumerRequest_Failover)
			second := c.subscribe(t, "/default/t", "s", "second", pb.ConsumerRequest_Failover)
			p.send(t, "a", "b")
			got := first.expect(t, "a", "b")
			if reliable {
				first.ack(t, got[0]) // "b" stays in flight
			}
			first.cancel()
			eventually(t, "first inactive", func() bool { return stats(t, b, "/default/t", "s").ActiveConsumers == 1 })
			p.send(t, "c")
			if reliable {
				second.expect(t, "b", "c")
			} else {
				second.expect(t, "c")
			}
		})
	}
}

func TestKeyShared(t *testing.T) {
	b := start(t, devbroker.Config{MaxUnackedMessages: 100})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	a := c.subscribe(t, "/default/t", "s", "a", pb.ConsumerRequest_KeyShared, "a*")
	bc := c.subscribe(t, "/default/t", "s", "b", pb.ConsumerRequest_KeyShared, "b?")
	p.sendKey(t, "apple", "1")
	p.sendKey(t, "bx", "2")
	p.sendKey(t, "bxx", "3") // no consumer accepts it: skipped
	p.sendKey(t, "apple", "4")
	m1 := a.expect(t, "1")[0]
	bc.expect(t, "2")
	eventually(t, "skip", func() bool { return stats(t, b, "/default/t", "s").Skipped == 1 })
	// One unacknowledged message per key: "4" waits for "1".
	if s := stats(t, b, "/default/t", "s"); s.InFlight != 2 || s.Pending != 3 {
		t.Fatalf("stats %+v: want 1 and 2 in flight, 4 held back", s)
	}
	if extra := a.drain(); len(extra) != 0 {
		t.Fatalf("second message of a key delivered before the first was acked: %v", extra)
	}
	a.ack(t, m1)
	a.expect(t, "4")
}

func TestKeySharedConsistentRouting(t *testing.T) {
	b := start(t, devbroker.Config{MaxUnackedMessages: 1000})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", false)
	one := c.subscribe(t, "/default/t", "s", "one", pb.ConsumerRequest_KeyShared)
	two := c.subscribe(t, "/default/t", "s", "two", pb.ConsumerRequest_KeyShared)
	const keys, rounds = 20, 3
	for r := range rounds {
		for k := range keys {
			p.sendKey(t, fmt.Sprint("key-", k), fmt.Sprint(k, "/", r))
		}
	}
	owner := map[string]string{}
	seen := 0
	collect := func(cons *consumer) {
		for _, m := range cons.drain() {
			seen++
			if o, ok := owner[*m.RoutingKey]; ok && o != cons.name {
				t.Errorf("key %s went to %s and %s", *m.RoutingKey, o, cons.name)
			}
			owner[*m.RoutingKey] = cons.name
		}
	}
	eventually(t, "all messages", func() bool {
		collect(one)
		collect(two)
		return seen == keys*rounds
	})
	counts := map[string]int{}
	for _, o := range owner {
		counts[o]++
	}
	if counts["one"] == 0 || counts["two"] == 0 {
		t.Errorf("keys not spread over both consumers: %v", counts)
	}
}

func TestExclusiveReplacedAfterDisconnect(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	one := c.subscribe(t, "/default/t", "s", "one", pb.ConsumerRequest_Exclusive)
	p.send(t, "a")
	one.expect(t, "a") // in flight, never acked
	one.cancel()
	eventually(t, "one inactive", func() bool { return stats(t, b, "/default/t", "s").ActiveConsumers == 0 })
	two := c.subscribe(t, "/default/t", "s", "two", pb.ConsumerRequest_Exclusive)
	two.expect(t, "a")
	if s := stats(t, b, "/default/t", "s"); s.Consumers != 1 {
		t.Fatalf("stats %+v", s)
	}
	stream, err := c.cons.ReceiveMessages(t.Context(), &pb.ReceiveRequest{ConsumerId: one.id})
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil {
		t.Fatal("replaced consumer still receives")
	}
}

func TestReceiveTakeover(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
	old := cons.ended
	p.send(t, "a")
	cons.expect(t, "a")
	cons.open(t) // a second stream for the same consumer id
	if err := <-old; err != nil {
		t.Fatalf("old stream ended with %v, want OK", err)
	}
	// The unacked message is redelivered on the new stream, then delivery continues.
	p.send(t, "b")
	got := cons.expect(t, "a", "b")
	if !slices.Equal([]uint64{got[0].MsgId.TopicOffset, got[1].MsgId.TopicOffset}, []uint64{0, 1}) {
		t.Fatalf("offsets %v", got)
	}
}
