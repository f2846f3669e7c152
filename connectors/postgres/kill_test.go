package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/postgres"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/pgtest"
	"github.com/danube-connect/connect/internal/testchild"
)

// The kill test runs the sink in a child process: this test binary with
// PGSINK_CHILD=1.
func TestMain(m *testing.M) {
	if os.Getenv("PGSINK_CHILD") == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

const killSinkName = "kill-sink"

// runChild runs the sink in a SinkRuntime until SIGTERM. With
// PGSINK_BLOCK_AFTER=n it stops after its n-th committed batch, between
// the commit and the ack: it prints COMMITTED and blocks until killed.
func runChild() int {
	blockAfter, _ := strconv.Atoi(os.Getenv("PGSINK_BLOCK_AFTER"))
	cfg := postgres.Config{
		DSN:         os.Getenv("PGSINK_DSN"),
		MaxConns:    4,
		ExactlyOnce: os.Getenv("PGSINK_EO") == "1",
		StateTable:  "danube_connect_offsets",
		Tables: []postgres.Table{{Topic: "*", Table: "killed", Mode: "insert", PayloadColumn: "payload",
			Columns: map[string]string{"id": "id", "off": "@offset"}}},
	}
	sink := &blockingSink{Sink: postgres.New(cfg), after: int64(blockAfter)}
	rt, err := connect.NewSinkRuntime(sink, connect.SinkConfig{
		Name:        killSinkName,
		ServiceURL:  os.Getenv("PGSINK_BROKER"),
		Topics:      []connect.SinkTopic{{Topic: os.Getenv("PGSINK_TOPIC"), NackDelay: time.Millisecond}},
		Batch:       connect.BatchPolicy{MaxRecords: 50, MaxWait: 5 * time.Millisecond},
		Parallelism: 2,
		Retry:       connect.RetryPolicy{MaxRetries: 10, Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return connect.ExitCode(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	err = rt.Run(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return connect.ExitCode(err)
}

// blockingSink blocks after its n-th committed batch.
type blockingSink struct {
	*postgres.Sink
	after int64
	n     atomic.Int64
}

func (s *blockingSink) WriteBatch(ctx context.Context, recs []connect.SinkRecord) error {
	err := s.Sink.WriteBatch(ctx, recs)
	if err == nil && s.after > 0 && s.n.Add(1) == s.after {
		fmt.Printf("COMMITTED %d records\n", len(recs))
		select {} // killed here: committed, never acked
	}
	return err
}

// child is a running sink process.
type child struct {
	cmd       *exec.Cmd
	committed chan string
	stderr    *strings.Builder
	mu        sync.Mutex
}

func startChild(t *testing.T, env []string) *child {
	t.Helper()
	cmd := testchild.Command(t, "^$", append(env, "PGSINK_CHILD=1")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, committed: make(chan string, 1), stderr: &strings.Builder{}}
	cmd.Stderr = lockedWriter{c}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "COMMITTED") {
				c.committed <- sc.Text()
			}
		}
	}()
	return c
}

type lockedWriter struct{ c *child }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.stderr.Write(p)
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// TestKillBetweenCommitAndAck kills the sink process with SIGKILL after a
// batch committed and before it was acknowledged, again and again. With
// exactly_once the table ends with every record exactly once; without it
// (the control run) the redelivered batches are written twice.
func TestKillBetweenCommitAndAck(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	for _, eo := range []bool{true, false} {
		t.Run("exactly_once="+strconv.FormatBool(eo), func(t *testing.T) {
			const n, kills = 1000, 6
			d := newDB(t, srv)
			d.exec(t, "CREATE TABLE killed (id int NOT NULL, off bigint NOT NULL)")
			b := startBroker(t, 10)
			topic := "/default/pgkill"
			env := []string{"PGSINK_DSN=" + d.dsn(), "PGSINK_BROKER=" + b.URL(), "PGSINK_TOPIC=" + topic, "PGSINK_EO=" + map[bool]string{true: "1", false: "0"}[eo]}

			send := producer(t, b.URL(), topic)
			c := startChild(t, append(env, "PGSINK_BLOCK_AFTER=3"))
			waitFor(t, "the sink's subscription", c, func() bool { _, ok := b.Subscription(topic, killSinkName); return ok })
			send(n)

			for k := range kills {
				select {
				case line := <-c.committed:
					t.Logf("kill %d after %s", k+1, line)
				case <-time.After(60 * time.Second):
					t.Fatalf("kill %d: no batch committed; child log:\n%s", k+1, c.log())
				}
				if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = c.cmd.Wait()
				next := "PGSINK_BLOCK_AFTER=" + strconv.Itoa(1+k%3)
				if k == kills-1 {
					next = "PGSINK_BLOCK_AFTER=0"
				}
				c = startChild(t, append(env, next))
			}
			waitFor(t, "every record acknowledged", c, func() bool {
				st, ok := b.Subscription(topic, killSinkName)
				return ok && st.Cursor >= n
			})
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			_ = c.cmd.Wait()

			rows := d.count(t, "SELECT count(*) FROM killed")
			distinct := d.count(t, "SELECT count(DISTINCT id) FROM killed")
			dupKeys := d.count(t, "SELECT count(*) FROM (SELECT id FROM killed GROUP BY id HAVING count(*) > 1) x")
			t.Logf("exactly_once=%v: %d kills, %d rows, %d distinct ids, %d ids written more than once", eo, kills, rows, distinct, dupKeys)
			if distinct != n {
				t.Fatalf("%d distinct ids, want %d: records lost", distinct, n)
			}
			if eo && (rows != n || dupKeys != 0) {
				t.Fatalf("exactly_once: %d rows for %d records, %d duplicated ids", rows, n, dupKeys)
			}
			if !eo && rows == n {
				t.Fatalf("control run: no duplicate after %d kills between commit and ack; the test does not kill where it should", kills)
			}
		})
	}
}

func waitFor(t *testing.T, what string, c *child, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; child log:\n%s", what, c.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// producer creates the topic and returns a function publishing n
// records {"id":i} with ten routing keys.
func producer(t *testing.T, url, topic string) func(n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := danube.NewClient(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	p, err := client.NewProducer(ctx, topic, danube.WithProducerName("pgkill"), danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return func(n int) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for i := range n {
			if err := p.Send(ctx, &danube.OutgoingMessage{Payload: fmt.Appendf(nil, `{"id":%d}`, i), Key: "k" + strconv.Itoa(i%10)}); err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		}
	}
}
