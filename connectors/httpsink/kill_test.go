package httpsink

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/testchild"
)

const childEnv = "HTTPSINK_KILL_CHILD"

type killChild struct {
	Broker, URL, Topic string
}

// TestKillChild is the connector process of TestKill9NoRecordLost; it runs
// only when that test starts it.
func TestKillChild(t *testing.T) {
	var c killChild
	testchild.Spec(t, childEnv, &c)
	var cfg Config
	must(t, config.ApplyDefaults(&cfg))
	cfg.URL, cfg.Mode = c.URL, "batch"
	rt, err := connect.NewSinkRuntime(newSink(t, cfg), connect.SinkConfig{
		Name: "http-kill", ServiceURL: c.Broker, Topics: []connect.SinkTopic{{Topic: c.Topic}},
		Batch: connect.BatchPolicy{MaxRecords: 20, MaxWait: 5 * time.Millisecond},
	})
	must(t, err)
	testchild.RunUntilTerm(t, rt.Run)
}

// kill -9 of the connector process while it sends: every published record
// reaches the endpoint (unacked records are redelivered to the next
// process), and the subscription ends fully acknowledged.
func TestKill9NoRecordLost(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child")
	}
	const topic, n = "/default/http-kill", 400
	b := connecttest.StartBroker(t)
	e := newEndpoint(t, false)
	e.batchMode = "json_array"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := danube.NewClient(ctx, b.URL())
	must(t, err)
	defer client.Close()
	prod, err := client.NewProducer(ctx, topic, danube.WithReliable())
	must(t, err)
	defer prod.Close()

	start := testchild.Starter(t, "^TestKillChild$", childEnv, killChild{Broker: b.URL(), URL: e.srv.URL + "/ingest", Topic: topic})
	child := start()
	waitFor(t, ctx, "the subscription", func() bool { _, ok := b.Subscription(topic, "http-kill"); return ok })
	go func() {
		for i := range n {
			_ = prod.Send(ctx, &danube.OutgoingMessage{Payload: fmt.Appendf(nil, `{"i":%d}`, i)})
		}
	}()
	waitFor(t, ctx, "a third of the records at the endpoint", func() bool { return len(e.got()) >= n/3 })
	must(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	killedAt := len(e.got())
	start()
	distinct := map[string]bool{}
	waitFor(t, ctx, "every record at the endpoint", func() bool {
		for _, p := range e.got() {
			distinct[string(p)] = true
		}
		return len(distinct) == n
	})
	waitFor(t, ctx, "the subscription fully acknowledged", func() bool {
		st, ok := b.Subscription(topic, "http-kill")
		return ok && st.Cursor == n
	})
	t.Logf("killed with %d records at the endpoint; %d deliveries for %d records (%d redelivered)", killedAt, len(e.got()), n, len(e.got())-n)
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
