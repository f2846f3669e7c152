package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/internal/testchild"
)

// childEnv carries the child's settings (JSON of killChild).
const childEnv = "WEBHOOK_KILL_CHILD"

type killChild struct {
	Listen  string `json:"listen"`
	Broker  string `json:"broker"`
	Offsets string `json:"offsets"`
	Topic   string `json:"topic"`
}

// TestKillChild is the connector process of TestKill9NoAcceptedRequestLost;
// it runs only when that test starts it.
func TestKillChild(t *testing.T) {
	var c killChild
	testchild.Spec(t, childEnv, &c)
	cfg := testConfig(t, newRoute("/events", c.Topic, nil))
	cfg.Listen = c.Listen
	must(t, config.Validate(&cfg))
	src, err := New(cfg)
	must(t, err)
	rt, err := connect.NewSourceRuntime(src, connect.SourceConfig{
		Name: "webhook-kill", ServiceURL: c.Broker, Topics: cfg.Topics(), OffsetDir: c.Offsets,
	})
	must(t, err)
	testchild.RunUntilTerm(t, rt.Run)
}

// kill -9 of the connector process while clients send: every request
// answered 200 is on the topic; clients retry what was not answered.
func TestKill9NoAcceptedRequestLost(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child")
	}
	const topic = "/default/webhook-kill"
	b := connecttest.StartBroker(t)
	c := killChild{Listen: freePort(t), Broker: b.URL(), Offsets: t.TempDir(), Topic: topic}
	start := testchild.Starter(t, "^TestKillChild$", childEnv, c)
	child := start()

	const clients, perClient = 4, 60
	var accepted sync.Map // body → true
	var nAccepted, nRetries atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Go(func() {
			for i := range perClient {
				body := fmt.Sprintf(`{"client":%d,"i":%d}`, cl, i)
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.Listen+"/events", bytes.NewReader([]byte(body)))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Idempotency-Key", fmt.Sprintf("%d-%d", cl, i))
					resp, err := hc.Do(req)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == 200 {
							accepted.Store(body, true)
							nAccepted.Add(1)
							break
						}
					}
					nRetries.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	for nAccepted.Load() < clients*perClient/3 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	must(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	killedAt := nAccepted.Load()
	start()
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("clients did not finish: %d of %d accepted", nAccepted.Load(), clients*perClient)
	}
	stored := map[string]int{}
	for _, m := range b.Messages(topic) {
		stored[string(m.Payload)]++
	}
	var lost []string
	accepted.Range(func(k, _ any) bool {
		if stored[k.(string)] == 0 {
			lost = append(lost, k.(string))
		}
		return true
	})
	if len(lost) > 0 {
		t.Fatalf("%d request(s) answered 200 are not on the topic, e.g. %s", len(lost), lost[0])
	}
	dups := 0
	for _, n := range stored {
		dups += n - 1
	}
	t.Logf("killed after %d accepted requests; %d accepted in all, %d retries, %d stored, %d duplicates (retried requests stored before the kill)",
		killedAt, nAccepted.Load(), nRetries.Load(), len(stored), dups)
	if len(stored) != clients*perClient {
		t.Fatalf("%d distinct requests stored, want %d", len(stored), clients*perClient)
	}
}
