package devbroker_test

import (
	"go.uber.org/goleak"

	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/testchild"
	pb "github.com/danube-connect/connect/internal/wire/danubepb"
)

// Environment of the helper process that runs a broker for the kill -9 test.
const (
	envChildDir  = "DEVBROKER_TEST_CHILD_DIR"
	envChildSync = "DEVBROKER_TEST_CHILD_SYNC"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envChildDir); dir != "" {
		runChild(dir)
		return
	}
	goleak.VerifyTestMain(m) // every goroutine a broker starts ends with Close
}

// runChild runs a broker on dir, prints its address and serves until it is killed.
func runChild(dir string) {
	sync, _ := strconv.Atoi(os.Getenv(envChildSync))
	b, err := devbroker.Start(context.Background(), devbroker.Config{DataDir: dir, Sync: devbroker.SyncPolicy(sync), MaxUnackedMessages: 10000})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", b.Addr())
	select {}
}

func TestRestartKeepsState(t *testing.T) {
	b := start(t, devbroker.Config{DataDir: t.TempDir()})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	c.producer(t, "/default/n", "p", false)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	idle := c.subscribe(t, "/default/t", "idle", "i", pb.ConsumerRequest_Shared)
	idle.cancel()
	p.send(t, "a", "b", "c")
	got := cons.expect(t, "a", "b", "c")
	cons.ack(t, got[0])
	eventually(t, "ack", func() bool { return stats(t, b, "/default/t", "s").Cursor == 1 })

	if err := b.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-cons.ended; err == nil {
		t.Fatal("stream survived a restart without an error")
	}
	c = dial(t, b.URL())
	if got := strings.Join(b.Topics(), ","); got != "/default/n,/default/t" {
		t.Fatalf("topics after restart: %s", got)
	}
	// Producer ids survive: the old id still publishes; the same name gets the same id.
	p.c = c
	p.send(t, "d")
	if again := c.producer(t, "/default/t", "p", true); again.id != p.id {
		t.Fatal("producer id changed across restart")
	}
	// The consumer keeps its id and resumes at its cursor.
	again := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Exclusive)
	if again.id != cons.id {
		t.Fatal("consumer id changed across restart")
	}
	for _, m := range again.expect(t, "b", "c", "d") {
		again.ack(t, m)
	}
	// A subscription that never acked resumes where it was created, not at the new latest.
	c.subscribe(t, "/default/t", "idle", "i", pb.ConsumerRequest_Shared).expect(t, "a", "b", "c", "d")
	if n := len(b.Messages("/default/t")); n != 4 {
		t.Fatalf("retained %d messages", n)
	}
}

func TestRestartInMemoryForgetsEverything(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	c.producer(t, "/default/t", "p", true).send(t, "a")
	if err := b.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := b.Topics(); len(got) != 0 {
		t.Fatalf("topics after in-memory restart: %v", got)
	}
	dial(t, b.URL()).producer(t, "/default/t", "p", true).send(t, "b")
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	b := start(t, devbroker.Config{DataDir: dir})
	c := dial(t, b.URL())
	p := c.producer(t, "/default/t", "p", true)
	p.send(t, "a", "b")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, "topics", "default", "t", "00000000000000000000.seg")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// A torn third frame: a header promising more bytes than follow.
	if err := os.WriteFile(seg, append(data, 50, 0, 0, 0, 1, 2, 3, 4, 'x'), 0o644); err != nil {
		t.Fatal(err)
	}
	b = start(t, devbroker.Config{DataDir: dir})
	c = dial(t, b.URL())
	p.c = c
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
	p.send(t, "c")
	if m := cons.expect(t, "c")[0]; m.MsgId.TopicOffset != 2 {
		t.Fatalf("offset after truncation = %d", m.MsgId.TopicOffset)
	}
	if msgs := b.Messages("/default/t"); len(msgs) != 3 || string(msgs[1].Payload) != "b" {
		t.Fatalf("messages after truncation: %v", msgs)
	}
}

// startChild runs a broker in a helper process on dir and returns a client for it.
func startChild(t *testing.T, dir string, sync devbroker.SyncPolicy) (*client, *exec.Cmd) {
	t.Helper()
	cmd, line := testchild.StartLine(t, "^$", envChildDir+"="+dir, envChildSync+"="+strconv.Itoa(int(sync)))
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if !ok {
		t.Fatalf("helper broker: %q", line)
	}
	return dial(t, "http://"+addr), cmd
}

func TestKillNineLosesNoConfirmedMessage(t *testing.T) {
	for _, policy := range []devbroker.SyncPolicy{devbroker.SyncBatched, devbroker.SyncEveryPublish, devbroker.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			c, cmd := startChild(t, dir, policy)
			p := c.producer(t, "/default/t", "p", true)
			// The subscription exists before the first message, so it must see every one.
			resp, err := c.cons.Subscribe(t.Context(), &pb.ConsumerRequest{TopicName: "/default/t", ConsumerName: "c", Subscription: "s"})
			if err != nil {
				t.Fatal(err)
			}

			// Concurrent senders publish until the broker dies under them.
			var mu sync.Mutex
			confirmed := map[string]bool{}
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			for w := range 8 {
				wg.Go(func() {
					for i := 0; ctx.Err() == nil; i++ {
						payload := fmt.Sprintf("%d-%d", w, i)
						m := &pb.StreamMessage{RequestId: uint64(i), MsgId: &pb.MsgID{ProducerId: p.id, TopicName: "/default/t"}, Payload: []byte(payload)}
						if _, err := c.prod.SendMessage(ctx, m); err != nil {
							return
						}
						mu.Lock()
						confirmed[payload] = true
						mu.Unlock()
					}
				})
			}
			eventually(t, "some confirmed publishes", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(confirmed) >= 300
			})
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			cmd.Wait()

			c2, _ := startChild(t, dir, policy)
			cons := &consumer{c: c2, topic: "/default/t", sub: "s", name: "c", id: resp.ConsumerId}
			cons.open(t)
			mu.Lock()
			missing := len(confirmed)
			seen := map[string]bool{}
			deadline := time.After(20 * time.Second)
			for missing > 0 {
				select {
				case m := <-cons.msgs:
					if pl := string(m.Payload); confirmed[pl] && !seen[pl] {
						seen[pl] = true
						missing--
					}
				case err := <-cons.ended:
					t.Fatalf("stream ended: %v", err)
				case <-deadline:
					t.Fatalf("%d of %d confirmed messages lost", missing, len(confirmed))
				}
			}
			mu.Unlock()
		})
	}
}
