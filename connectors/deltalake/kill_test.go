package deltalake

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/testchild"
)

// Environment of the child process of the kill test.
const (
	envChild       = "DELTALAKE_KILL_CHILD"
	envBroker      = "DELTALAKE_KILL_BROKER"
	envTable       = "DELTALAKE_KILL_TABLE"
	envHoldAfter   = "DELTALAKE_KILL_HOLD_AFTER" // commits before holding; 0: never
	envMarker      = "DELTALAKE_KILL_MARKER"
	envExactlyOnce = "DELTALAKE_KILL_EXACTLY_ONCE"
	killTopic      = "/default/kill"
	killSub        = "kill-sub"
	killName       = "kill-sink"
)

// TestKillChild is the connector process of TestKill9BetweenCommitAndAck;
// it does nothing unless started by it. After HOLD_AFTER commits it writes
// the marker file and blocks before returning from WriteBatch: the commit
// is in the table, the records are not acked, and the parent kills it.
func TestKillChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("child process of TestKill9BetweenCommitAndAck")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := testConfig(t, func(c *Config) {
		tc := tableConfig(killTopic, os.Getenv(envTable))
		c.Tables = []Table{tc}
		c.ExactlyOnce = os.Getenv(envExactlyOnce) == "1"
	})
	s := New(cfg, Options{Subscriptions: map[string]string{killTopic: killSub}})
	if n, _ := strconv.Atoi(os.Getenv(envHoldAfter)); n > 0 {
		commits := 0
		s.afterCommit = func() {
			if commits++; commits == n {
				_ = os.WriteFile(os.Getenv(envMarker), []byte("committed"), 0o644)
				<-ctx.Done() // held here until SIGKILL
			}
		}
	}
	rt, err := connect.NewSinkRuntime(s, connect.SinkConfig{
		Name: killName, ServiceURL: os.Getenv(envBroker),
		Topics: []connect.SinkTopic{{Topic: killTopic, Subscription: killSub, NackDelay: time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKill9BetweenCommitAndAck kills the connector process (SIGKILL) right
// after a Delta commit and before the ack, at least five times, against a
// broker with a window of 10 unacked messages, then lets a last process
// finish. With exactly-once the table holds every valid record once; the
// control run without the txn skip shows the duplicates the kills cause.
func TestKill9BetweenCommitAndAck(t *testing.T) {
	python(t)
	if testing.Short() {
		t.Skip("spawns connector processes")
	}
	t.Run("ExactlyOnce", func(t *testing.T) {
		k := runKills(t, true)
		if k.dups != 0 || len(k.missing) != 0 {
			t.Fatalf("%d duplicate rows, missing offsets %v (%s)", k.dups, k.missing, k)
		}
		if k.txn != int64(k.last) {
			t.Fatalf("txn version %d, want the last offset %d", k.txn, k.last)
		}
		t.Logf("exactly-once: %s", k)
	})
	t.Run("ControlWithoutSkip", func(t *testing.T) {
		k := runKills(t, false)
		if len(k.missing) != 0 {
			t.Fatalf("missing offsets %v (%s)", k.missing, k)
		}
		if k.dups == 0 {
			t.Fatalf("no duplicates without the txn skip: the kills did not land between commit and ack (%s)", k)
		}
		t.Logf("control: %s", k)
	})
}

type killResult struct {
	kills, rows, dups, dlq int
	missing                []uint64
	last                   uint64
	txn                    int64
}

func (k killResult) String() string {
	return fmt.Sprintf("%d kills, %d rows, %d duplicates, %d missing, %d dead-lettered copies of the poison record", k.kills, k.rows, k.dups, len(k.missing), k.dlq)
}

const killRecords, killPoison = 150, 37

func runKills(t *testing.T, exactlyOnce bool) killResult {
	dir := t.TempDir()
	b := startBroker(t, 10, filepath.Join(dir, "broker"))
	table := filepath.Join(dir, "table")
	eo := "0"
	if exactlyOnce {
		eo = "1"
	}
	child := func(holdAfter int, marker string) *exec.Cmd {
		cmd := testchild.Command(t, "^TestKillChild$", envChild+"=1", envBroker+"="+b.URL(), envTable+"="+table, envExactlyOnce+"="+eo,
			envHoldAfter+"="+strconv.Itoa(holdAfter), envMarker+"="+marker)
		logf, err := os.Create(marker + ".log")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	publish := openOrdersProducer(t, b)
	var offsets []uint64
	res := killResult{}
	for i := range 6 {
		marker := filepath.Join(dir, fmt.Sprintf("marker-%d", i))
		cmd := child(1+rand.IntN(3), marker)
		if i == 0 {
			waitFor(t, "the first child subscribed", func() bool { _, ok := b.Subscription(killTopic, killSub); return ok }, marker+".log")
			offsets = publish()
		}
		waitFor(t, "a commit held before its ack", func() bool { _, err := os.Stat(marker); return err == nil }, marker+".log")
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		res.kills++
	}
	res.last = offsets[len(offsets)-1]
	final := child(0, filepath.Join(dir, "marker-final"))
	waitFor(t, "every record acked", func() bool {
		st, ok := b.Subscription(killTopic, killSub)
		return ok && st.Cursor > res.last
	})
	_ = final.Process.Signal(syscall.SIGTERM)
	_ = final.Wait()

	app := AppID(killName, killSub, killTopic)
	r := readWithDeltaRS(t, table, nil, app)
	count := map[uint64]int{}
	for _, row := range r.Rows {
		count[uint64(row[ColOffset].(float64))]++
	}
	res.rows = len(r.Rows)
	for off, n := range count {
		res.dups += n - 1
		if off == offsets[killPoison] {
			t.Fatalf("the poison record is in the table")
		}
	}
	for i, off := range offsets {
		if i != killPoison && count[off] == 0 {
			res.missing = append(res.missing, off)
		}
	}
	if v := r.Txn[app]; v != nil {
		res.txn = *v
	}
	for _, m := range b.Messages(connect.DefaultDLQTopic(killTopic)) {
		if m.Attributes[connect.AttrOriginalOffset] == strconv.FormatUint(offsets[killPoison], 10) {
			res.dlq++
		}
	}
	if res.dlq == 0 {
		t.Fatalf("the poison record was not dead-lettered (%s)", res)
	}
	return res
}

// openOrdersProducer creates the kill test's topic and returns a function
// publishing its records, one of them poison, and returning their offsets.
func openOrdersProducer(t *testing.T, b *devbroker.Broker) func() []uint64 {
	t.Helper()
	ctx := t.Context()
	c, err := danube.NewClient(ctx, b.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	p, err := c.NewProducer(ctx, killTopic, danube.WithProducerName("orders"), danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return func() []uint64 { return publishOrders(t, b, p) }
}

func publishOrders(t *testing.T, b *devbroker.Broker, p *danube.Producer) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for i := range killRecords {
		payload := orderJSON(i)
		if i == killPoison {
			payload = `{"id":"poison","qty":true}`
		}
		if err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	var out []uint64
	for _, m := range b.Messages(killTopic) {
		if m.ProducerName == "orders" {
			out = append(out, m.Offset)
		}
	}
	if len(out) != killRecords {
		t.Fatalf("%d records stored, want %d", len(out), killRecords)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool, logs ...string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
