package devbroker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect/devbroker"
	pb "github.com/danube-connect/connect/internal/wire/danubepb"
)

// segmentFiles counts the segment files of topic in dir.
func segmentFiles(t *testing.T, dir, topic string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "topics", filepath.FromSlash(topic[1:])))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".seg") {
			n++
		}
	}
	return n
}

// consumeAll receives and acks n messages in order, checking their payloads.
func consumeAll(t *testing.T, cons *consumer, prefix string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		m := cons.next(t)
		if want := fmt.Sprintf("%s%05d", prefix, i); string(m.Payload) != want {
			t.Fatalf("%s got %q, want %q", cons.name, m.Payload, want)
		}
		cons.ack(t, m)
	}
}

func sendNumbered(t *testing.T, p *producer, prefix string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		p.send(t, fmt.Sprintf("%s%05d", prefix, i))
	}
}

// TestRetentionKeepsUnackedDeletesAcked: nothing a subscription has not acknowledged is deleted
// (a lagging subscription reads it all back, from disk beyond the small read cache); once every
// subscription acknowledged, segment files beyond the retention size go, and a restart resumes
// from the first retained offset.
func TestRetentionKeepsUnackedDeletesAcked(t *testing.T) {
	for _, durable := range []bool{true, false} {
		t.Run(map[bool]string{true: "durable", false: "memory"}[durable], func(t *testing.T) {
			cfg := devbroker.Config{SegmentBytes: 4 << 10, RetentionBytes: 16 << 10, RetentionTime: -1,
				ReadCacheBytes: 2 << 10, MaxUnackedMessages: 50}
			if durable {
				cfg.DataDir = t.TempDir()
			}
			b := start(t, cfg)
			c := dial(t, b.URL())
			const topic, n = "/default/ret", 2000
			p := c.producer(t, topic, "p", true)
			fast := c.subscribe(t, topic, "fast", "f", pb.ConsumerRequest_Exclusive)
			slow := c.subscribe(t, topic, "slow", "s", pb.ConsumerRequest_Exclusive)
			sendNumbered(t, p, "m", 0, n)
			consumeAll(t, fast, "m", 0, n)
			time.Sleep(20 * time.Millisecond) // several retention passes
			if got := b.Messages(topic); len(got) != n || got[0].Offset != 0 {
				t.Fatalf("%d messages retained from offset %d while a subscription has not acknowledged them, want all %d", len(got), got[0].Offset, n)
			}
			consumeAll(t, slow, "m", 0, n)
			eventually(t, "acknowledged messages deleted", func() bool {
				got := b.Messages(topic)
				return len(got) < n/2 && got[0].Offset > 0 && got[len(got)-1].Offset == n-1
			})
			if durable {
				if files := segmentFiles(t, cfg.DataDir, topic); files > 6 {
					t.Errorf("%d segment files left, want the retention's 16 KiB of 4 KiB files", files)
				}
				if err := b.Restart(t.Context()); err != nil {
					t.Fatal(err)
				}
				c = dial(t, b.URL())
				p = c.producer(t, topic, "p", true)
				fast = c.subscribe(t, topic, "fast", "f", pb.ConsumerRequest_Exclusive)
				sendNumbered(t, p, "m", n, 1)
				if m := fast.next(t); m.MsgId.TopicOffset != n {
					t.Fatalf("after restart: offset %d, want %d", m.MsgId.TopicOffset, n)
				}
			}
		})
	}
}

// TestRetentionTime deletes acknowledged segment files older than the retention time, whatever
// their size.
func TestRetentionTime(t *testing.T) {
	dir := t.TempDir()
	b := start(t, devbroker.Config{DataDir: dir, SegmentBytes: 1 << 10, RetentionBytes: -1, RetentionTime: 50 * time.Millisecond})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/aged", "p", true)
	sendNumbered(t, p, "m", 0, 100) // no subscription: acknowledged by all
	eventually(t, "old segments deleted", func() bool { return segmentFiles(t, dir, "/default/aged") == 1 })
	if got := b.Messages("/default/aged"); len(got) == 0 || got[len(got)-1].Offset != 99 {
		t.Fatalf("the segment being written was deleted: %d messages left", len(got))
	}
}

// TestRetentionDisabled keeps every message with both limits negative.
func TestRetentionDisabled(t *testing.T) {
	b := start(t, devbroker.Config{DataDir: t.TempDir(), SegmentBytes: 1 << 10, RetentionBytes: -1, RetentionTime: -1})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/all", "p", true)
	sendNumbered(t, p, "m", 0, 300)
	time.Sleep(20 * time.Millisecond)
	if got := b.Messages("/default/all"); len(got) != 300 {
		t.Fatalf("%d messages retained, want all 300", len(got))
	}
}
