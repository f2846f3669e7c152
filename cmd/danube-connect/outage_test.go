package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect/connectors/file"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/testchild"
)

// outage is how long the broker is gone in the outage tests: longer than
// the client's retry policy alone rides out (about 3 s).
const outage = 10 * time.Second

// storedPayloads returns how often each payload is stored on topic.
func storedPayloads(b *devbroker.Broker, topic string) (map[string]int, int) {
	seen := map[string]int{}
	msgs := b.Messages(topic)
	for _, m := range msgs {
		seen[string(m.Payload)]++
	}
	return seen, len(msgs)
}

// TestProduceRidesOutOutage stops the broker for 10 s in the middle of a
// produce run: the command exits 0, every message is stored (at most one
// twice: a send cut by the outage), and stderr says once that the broker was
// lost and once that it is back.
// suspendFor makes b unreachable for d (listener closed, connections
// cut), then serves again on the same address.
func suspendFor(t *testing.T, b *devbroker.Broker, d time.Duration) {
	t.Helper()
	if err := b.Suspend(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	if err := b.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestProduceRidesOutOutage(t *testing.T) {
	b := startBroker(t)
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	const n = 300
	p := startCLI(t, t.Context(), env, nil, "produce", "-t", "/default/outage", "-m", "m{i}", "-c", strconv.Itoa(n), "-i", "5", "--reliable")
	eventually(t, "a third of the messages stored", func() bool { _, got := storedPayloads(b, "/default/outage"); return got >= n/3 })
	suspendFor(t, b, outage)
	res := p.wait(t)
	if res.code != 0 {
		t.Fatalf("produce exit %d; stderr:\n%s", res.code, res.stderr)
	}
	seen, total := storedPayloads(b, "/default/outage")
	for i := range n {
		if seen["m"+strconv.Itoa(i)] == 0 {
			t.Errorf("m%d was not stored", i)
		}
	}
	if total > n+1 {
		t.Errorf("%d messages stored for %d sends: more than the one a cut send may repeat", total, n)
	}
	t.Logf("stored %d messages for %d sends", total, n)
	stderr := res.stderr.String()
	if c := strings.Count(stderr, "broker unreachable; reconnecting"); c != 1 {
		t.Errorf("the loss was logged %d times, want once:\n%s", c, stderr)
	}
	if c := strings.Count(stderr, "broker reachable again"); c != 1 {
		t.Errorf("the return was logged %d times, want once:\n%s", c, stderr)
	}
}

// TestConsumeRidesOutRestart stops a durable broker for 10 s (Close, then a
// new broker on the same address and data directory) while consume reads a
// stream: consume keeps running, resumes, and prints every message.
func TestConsumeRidesOutRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := devbroker.Config{DataDir: dir, TimerTick: 10 * time.Millisecond,
		FailurePolicy: devbroker.FailurePolicy{AckTimeout: time.Second, BaseRedeliveryDelay: 10 * time.Millisecond}}
	b, err := devbroker.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	const topic, n = "/default/consume-outage", 300
	createTopic(t, b.URL(), topic)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	c := startCLI(t, ctx, env, nil, "consume", "-t", topic, "-m", "sub", "--output", "json")
	c.awaitStarted(t)

	cl, err := danube.NewClient(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	prod, err := cl.NewProducer(t.Context(), topic, danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := prod.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte(`{"i":` + strconv.Itoa(i) + `}`)}); err != nil {
				sent <- fmt.Errorf("send %d: %w", i, err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		sent <- nil
	}()
	printed := func() map[string]bool {
		got := map[string]bool{}
		for _, line := range strings.Split(c.stdout.String(), "\n") {
			var l file.Line
			if json.Unmarshal([]byte(line), &l) == nil {
				got[string(l.Payload)] = true
			}
		}
		return got
	}
	eventually(t, "a third of the messages printed", func() bool { return len(printed()) >= n/3 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(outage)
	cfg.Addr = b.Addr()
	b2, err := devbroker.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	eventually(t, "every message printed", func() bool { return len(printed()) == n })
	select {
	case <-c.done:
		t.Fatalf("consume ended (exit %d) before it was stopped; stderr:\n%s", c.code, c.stderr)
	default:
	}
	stop()
	if res := c.wait(t); res.code != 0 {
		t.Fatalf("consume exit %d; stderr:\n%s", res.code, res.stderr)
	}
	s := c.stderr.String()
	if !strings.Contains(s, "broker unreachable; reconnecting") || !strings.Contains(s, "broker reachable again") {
		t.Errorf("stderr does not report the loss and the return:\n%s", s)
	}
	if n := strings.Count(s, "level=WARN"); n > 2 {
		t.Errorf("%d warnings for one outage, want the loss and at most one more line:\n%s", n, s)
	}
}

// envCLIChild makes TestCLIChild run the command line in its value (split on
// spaces): the helper process of the kill -9 tests.
const envCLIChild = "DANUBE_CONNECT_TEST_CLI"

// TestCLIChild is not a test: it runs danube-connect in a child process.
func TestCLIChild(t *testing.T) {
	args := os.Getenv(envCLIChild)
	if args == "" {
		t.Skip("helper process of the kill -9 tests")
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	c := &cli{stdin: strings.NewReader(""), stdout: os.Stdout, stderr: os.Stderr, env: os.Environ()}
	os.Exit(execute(ctx, strings.Fields(args), c))
}

// startDurableBroker runs `danube-connect devbroker --data-dir dir --addr
// addr` in a child process and waits until it serves.
func startDurableBroker(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd, line := testchild.StartLine(t, "^TestCLIChild$", envCLIChild+"=devbroker --data-dir "+dir+" --addr "+addr+" --log-level warn")
	if !strings.Contains(line, "Clients use:") {
		t.Fatalf("child broker: %q", line)
	}
	return cmd
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestProduceSurvivesBrokerKill9 runs `produce -c 1000 -i 10 --reliable`
// against a durable devbroker in a child process, kills the broker with
// SIGKILL mid-run and starts it again on the same address and data
// directory: produce exits 0 and all 1,000 messages are stored. A message
// can be stored twice only when the broker died after storing it and before
// its confirmation reached produce, which then sends it again: at most one
// per kill.
func TestProduceSurvivesBrokerKill9(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	broker := startDurableBroker(t, dir, addr)
	const topic, n = "/default/kill9", 1000
	p := startCLI(t, t.Context(), nil, nil, "produce", "-s", "http://"+addr, "-t", topic, "-m", "m{i}",
		"-c", strconv.Itoa(n), "-i", "10", "--reliable")
	time.Sleep(3 * time.Second) // about 300 messages in
	if err := broker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	broker.Wait()
	time.Sleep(2 * time.Second)
	broker = startDurableBroker(t, dir, addr)
	res := p.wait(t)
	if res.code != 0 {
		t.Fatalf("produce exit %d; stderr:\n%s", res.code, res.stderr)
	}
	// Read what the broker stored: stop it and open its data directory in process.
	broker.Process.Kill()
	broker.Wait()
	b, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	seen, total := storedPayloads(b, topic)
	for i := range n {
		if seen["m"+strconv.Itoa(i)] == 0 {
			t.Errorf("m%d was not stored", i)
		}
	}
	if total > n+1 {
		t.Errorf("%d messages stored for %d sends: more than one repeat for one kill", total, n)
	}
	t.Logf("stored %d messages for %d sends (%d twice)", total, n, total-len(seen))
}

// TestDLQInspectRidesOutOutage stops the broker for 10 s while dlq inspect
// reads a dead-letter topic (slowed down by a latency on acks): inspect
// waits for the broker, resumes and shows every record, ending at its end
// marker with exit 0. An outage is not mistaken for an idle topic.
func TestDLQInspectRidesOutOutage(t *testing.T) {
	b := startBroker(t)
	env := []string{"DANUBE_SERVICE_URL=" + b.URL()}
	const topic, n = "/default/outage-dlq", 200
	createTopic(t, b.URL(), topic)
	// The tool's subscription starts at the latest message: create it first.
	if r := runCLI(t, t.Context(), env, "dlq", "inspect", "-t", topic, "--idle", "1ms"); r.code != 0 {
		t.Fatalf("create the subscription: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	cl, err := danube.NewClient(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	prod, err := cl.NewProducer(t.Context(), topic, danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := prod.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte("d" + strconv.Itoa(i) + ".")}); err != nil {
			t.Fatal(err)
		}
	}
	b.SetLatency("/danube.ConsumerService/Ack", 20*time.Millisecond)
	r := startCLI(t, t.Context(), env, nil, "dlq", "inspect", "-t", topic, "--idle", "2s")
	shown := func() int {
		got := 0
		for i := range n {
			if strings.Contains(r.stdout.String(), "d"+strconv.Itoa(i)+".") {
				got++
			}
		}
		return got
	}
	eventually(t, "some records shown", func() bool { return shown() >= n/4 })
	suspendFor(t, b, outage)
	res := r.wait(t)
	if res.code != 0 {
		t.Fatalf("dlq inspect exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if got := shown(); got != n {
		t.Fatalf("inspect showed %d of %d records; stderr:\n%s", got, n, res.stderr)
	}
}
